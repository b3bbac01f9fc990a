/**
 * Differential test: the same scripted IMAP sessions (raw socket lines) run in lockstep against
 * Dovecot (Debian dovecot-imapd, the reference) and Postern, each command's responses normalised
 * (differential-wire.ts: UIDVALIDITY, mod-sequences, capability order, the human text after
 * OK/NO/BAD, untagged order, FETCH item order) and compared. The sessions: capabilities before
 * and after login, LIST variants (LIST-EXTENDED, SPECIAL-USE, LIST-STATUS, CHILDREN), CREATE /
 * RENAME / DELETE / SUBSCRIBE, NAMESPACE, SELECT / EXAMINE / STATUS, FETCH of FLAGS, ENVELOPE,
 * BODYSTRUCTURE, BODY, BODY[section]<partial>, BINARY over the MIME corpus (appended to both
 * by the first session), STORE, SEARCH variants (ESEARCH, SEARCHRES), COPY / MOVE with
 * UIDPLUS codes, EXPUNGE / UID EXPUNGE / CLOSE, APPEND, IDLE, ENABLE, and error cases.
 *
 * Every remaining difference is listed in ALLOWED with the RFC text that permits it (each entry
 * maps both servers' lines of the commands it names to what that text leaves open); the test
 * fails on any difference no entry explains, and prints it (command, - Dovecot, + Postern).
 * POSTERN_DIFF_VERBOSE=1 prints every difference and the entries used; POSTERN_DIFF_DUMP=1 every
 * normalised answer.
 * With POSTERN_IMAP_TARGET=dovecot the subject is a second Dovecot (a check of the harness).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connectRaw, normalise, type Part, type RawClient } from './differential-wire.ts';
import { CORPUS } from './differential-corpus.ts';
import { startDovecot, type DovecotPeer } from './dovecot.ts';
import { startTarget, type ImapTarget } from './helpers.ts';

const USER = 'ann@example.org';
const PW = 'sesame';
const USERS = [{ user: USER, password: PW }, { user: 'bob@example.org', password: PW }];

/** A command line (after the tag); one with literals; IDLE … DONE, with `changes` made meanwhile
 * by another session of the same user (INBOX selected) and DONE sent once the IDLE session has
 * been told something (or after 5 s); a raw line then a NOOP. */
type Step = string | { parts: Part[]; literalPlus?: boolean } | { idle: true; changes?: Array<string | Part[]> } | { raw: string };
interface Session { name: string; login: boolean; steps: Step[] }

const appendCorpus: Step[] = CORPUS.map((m) => ({ parts: [`APPEND INBOX ${m.flags} ${m.date} `, m.body] }));
const LOGIN = `LOGIN ${USER} ${PW}`;

const SESSIONS: Session[] = [
  {
    name: 'capability',
    login: false,
    steps: ['CAPABILITY', 'NOOP', 'SELECT INBOX', 'LOGIN ann@example.org wrong', LOGIN, 'CAPABILITY', 'LOGIN ann@example.org sesame', 'LOGOUT'],
  },
  { name: 'corpus', login: true, steps: [...appendCorpus, 'STATUS INBOX (MESSAGES UIDNEXT UNSEEN RECENT)'] },
  {
    name: 'list',
    login: true,
    steps: [
      'LIST "" ""', 'LIST "" "*"', 'LIST "" "%"', 'LIST "" "INBOX"', 'LIST "" "inbox"', 'LIST "" "Nope*"',
      'LIST (SPECIAL-USE) "" "*"', 'LIST "" "*" RETURN (SPECIAL-USE)', 'LIST "" "*" RETURN (CHILDREN)',
      'LIST (SUBSCRIBED) "" "*"', 'LIST "" "*" RETURN (SUBSCRIBED)', 'LIST "" ("INBOX" "Sent")',
      'LIST "" "*" RETURN (STATUS (MESSAGES UIDNEXT UNSEEN))', 'LSUB "" "*"',
      'CREATE Projects/2024', 'LIST "" "Projects*"', 'LIST "" "Projects/%"', 'LIST "" "%" RETURN (CHILDREN)',
      'LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"', 'SUBSCRIBE Projects/2024', 'LSUB "" "Projects*"', 'LIST (SUBSCRIBED) "" "Projects*"',
      'UNSUBSCRIBE Projects/2024', 'RENAME Projects/2024 Projects/2025', 'LIST "" "Projects/*"', 'RENAME Projects/2025 Sent',
      'DELETE Projects/2025', 'DELETE Projects', 'LIST "" "Projects*"', 'CREATE INBOX', 'DELETE INBOX', 'DELETE Nope', 'RENAME Nope Other',
      'CREATE "Caf&AOk-"', 'LIST "" "Caf*"', 'DELETE "Caf&AOk-"', 'NAMESPACE',
      'STATUS INBOX (MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN)', 'STATUS INBOX (HIGHESTMODSEQ SIZE)', 'STATUS Nope (MESSAGES)', 'STATUS Sent (MESSAGES UIDNEXT)',
    ],
  },
  {
    name: 'select',
    login: true,
    steps: ['EXAMINE INBOX', 'SELECT INBOX', 'SELECT INBOX (CONDSTORE)', 'EXAMINE Sent', 'SELECT Nope', 'CHECK', 'SELECT INBOX', 'UNSELECT', 'UNSELECT', 'CLOSE'],
  },
  {
    name: 'fetch',
    login: true,
    steps: [
      'EXAMINE INBOX',
      'FETCH 1:* (FLAGS UID RFC822.SIZE INTERNALDATE)', 'FETCH 1:* ENVELOPE', 'FETCH 1:* BODYSTRUCTURE', 'FETCH 1:* BODY', 'FETCH 1:3 FAST', 'FETCH 2 ALL', 'FETCH 3 FULL',
      'FETCH 1:* BODY.PEEK[HEADER]', 'FETCH 2:4 BODY.PEEK[TEXT]', 'FETCH 2 (BODY.PEEK[1] BODY.PEEK[2] BODY.PEEK[1.MIME] BODY.PEEK[2.MIME])',
      'FETCH 4 (BODY.PEEK[2] BODY.PEEK[2.HEADER] BODY.PEEK[2.TEXT] BODY.PEEK[2.1] BODY.PEEK[2.1.MIME] BODY.PEEK[2.2])',
      'FETCH 8 (BODY.PEEK[1.1] BODY.PEEK[1.2.MIME] BODY.PEEK[2])', 'FETCH 1 BODY.PEEK[1]', 'FETCH 1 BODY.PEEK[2]',
      'FETCH 1:* BODY.PEEK[HEADER.FIELDS (SUBJECT FROM)]', 'FETCH 5 BODY.PEEK[HEADER.FIELDS.NOT (TO CC BCC SUBJECT)]', 'FETCH 7 BODY.PEEK[HEADER.FIELDS (subject x-long-header)]',
      'FETCH 9 BODY.PEEK[]<0.40>', 'FETCH 9 BODY.PEEK[]<100.50>', 'FETCH 9 BODY.PEEK[TEXT]<10.0>', 'FETCH 1 BODY.PEEK[]<100000.10>', 'FETCH 2 BODY.PEEK[1]<5.10>',
      'FETCH 1:2 (RFC822.HEADER)', 'FETCH 3 (BINARY.PEEK[2] BINARY.SIZE[2])', 'FETCH 2 (BINARY.PEEK[1] BINARY.SIZE[1])', 'FETCH 6 BINARY.PEEK[1]<0.8>',
      'UID FETCH 1:* (FLAGS)', 'UID FETCH 4:2 UID', 'UID FETCH 9999 FLAGS', 'FETCH 1:* (FLAGS MODSEQ)', 'FETCH 1 (BODY[HEADER.FIELDS (SUBJECT)])',
      'FETCH 11 FLAGS', 'FETCH 0 FLAGS', 'FETCH 1 (FLAGS', 'FETCH 1 BODY[NOPE]', 'FETCH 1 FOO', 'FETCH * UID',
    ],
  },
  {
    name: 'store',
    login: true,
    steps: [
      'SELECT INBOX',
      'FETCH 1 BODY[TEXT]', 'FETCH 1:* FLAGS', 'STORE 2 +FLAGS (\\Flagged)', 'STORE 2 -FLAGS.SILENT (\\Flagged)', 'STORE 3 FLAGS ($Label3 \\Answered)',
      'UID STORE 4:5 +FLAGS (\\Seen)', 'STORE 1:* -FLAGS.SILENT ($Label2)', 'STORE 6 +FLAGS ($Custom)', 'FETCH 1:* FLAGS', 'STORE 1 +FLAGS (\\Recent)', 'STORE 99 +FLAGS (\\Seen)',
      'STORE 1 BOGUS (\\Seen)', 'STORE 2 (UNCHANGEDSINCE 1) +FLAGS (\\Flagged)', 'FETCH 2 (FLAGS)',
      'SELECT INBOX', 'EXAMINE INBOX', 'STORE 1 +FLAGS (\\Flagged)',
    ],
  },
  {
    name: 'search',
    login: true,
    steps: [
      'EXAMINE INBOX',
      'SEARCH ALL', 'SEARCH SUBJECT hello', 'SEARCH SUBJECT "GRÜSSE"', 'SEARCH FROM bob', 'SEARCH FROM "Smith"', 'SEARCH TO ann@example.org', 'SEARCH CC carol',
      'SEARCH BCC boss', 'SEARCH BODY zebra', 'SEARCH TEXT zebra', 'SEARCH TEXT "Original text"', 'SEARCH BODY "lorem ipsum"', 'SEARCH HEADER Message-ID <long9@example.org>',
      'SEARCH HEADER X-Mailing-List ""', 'SEARCH LARGER 3000', 'SEARCH SMALLER 500', 'SEARCH SINCE 1-May-2024', 'SEARCH BEFORE 1-May-2024', 'SEARCH ON 13-Sep-2024',
      'SEARCH SENTSINCE 1-Jun-2024', 'SEARCH SENTBEFORE 2-Feb-2024', 'SEARCH SENTON 20-Apr-2024', 'SEARCH SEEN', 'SEARCH UNSEEN', 'SEARCH FLAGGED', 'SEARCH UNFLAGGED', 'SEARCH ANSWERED',
      'SEARCH DRAFT', 'SEARCH KEYWORD $Label3', 'SEARCH UNKEYWORD $Label3', 'SEARCH DELETED', 'SEARCH NEW', 'SEARCH OLD', 'SEARCH RECENT',
      'SEARCH OR FROM bob FROM carol', 'SEARCH NOT SEEN', 'SEARCH (SEEN FLAGGED)', 'SEARCH OR (SEEN FROM flow) KEYWORD $Custom', 'SEARCH 2:4', 'SEARCH UID 3:5', 'SEARCH 2:4 SEEN',
      'UID SEARCH ALL', 'UID SEARCH SUBJECT the', 'SEARCH RETURN () ALL', 'SEARCH RETURN (MIN MAX COUNT) ALL', 'SEARCH RETURN (COUNT) SUBJECT nothing-matches',
      'UID SEARCH RETURN (ALL MIN) SEEN', 'SEARCH RETURN (SAVE) SEEN', 'FETCH $ (UID FLAGS)', 'SEARCH $ ANSWERED', 'SEARCH MODSEQ 1',
      { parts: ['SEARCH CHARSET UTF-8 SUBJECT ', Buffer.from('café')] }, { parts: ['SEARCH CHARSET UTF-8 BODY ', Buffer.from('crème')] },
      'SEARCH CHARSET X-UNKNOWN SUBJECT a', 'SEARCH FOO', 'SEARCH SINCE 99-Foo-2024', 'SEARCH', 'SEARCH UID', 'SEARCH SUBJECT',
    ],
  },
  {
    name: 'sort',
    login: true,
    steps: [
      'EXAMINE INBOX',
      'SORT (ARRIVAL) UTF-8 ALL', 'SORT (REVERSE ARRIVAL) UTF-8 ALL', 'SORT (DATE) UTF-8 ALL', 'SORT (REVERSE DATE) UTF-8 ALL', 'SORT (SUBJECT) UTF-8 ALL',
      'SORT (FROM) UTF-8 ALL', 'SORT (TO) UTF-8 ALL', 'SORT (CC) UTF-8 ALL', 'SORT (SIZE) UTF-8 ALL', 'SORT (REVERSE SIZE) UTF-8 SEEN', 'SORT (SUBJECT DATE) UTF-8 ALL',
      'UID SORT (DATE) UTF-8 ALL', 'SORT (DATE) US-ASCII SUBJECT the', 'SORT (FOO) UTF-8 ALL', 'SORT (DATE) X-UNKNOWN ALL',
      'THREAD REFERENCES UTF-8 ALL', 'UID THREAD REFERENCES UTF-8 ALL', 'THREAD REFERENCES UTF-8 SUBJECT the', 'THREAD FOO UTF-8 ALL',
    ],
  },
  {
    name: 'copymove',
    login: true,
    steps: [
      'SELECT INBOX',
      'COPY 1 Archive', 'UID COPY 2:3 Archive', 'COPY 1 Nope', 'STATUS Archive (MESSAGES UIDNEXT)', 'MOVE 4 Trash', 'UID MOVE 5,6 Trash', 'FETCH 1:* UID',
      'MOVE 1 Nope', 'UID MOVE 9999 Trash', 'STATUS Trash (MESSAGES UIDNEXT UNSEEN)', 'SELECT Trash', 'FETCH 1:* (UID FLAGS ENVELOPE)', 'COPY 1:* INBOX', 'MOVE 1 Trash', 'NOOP',
    ],
  },
  {
    name: 'expunge',
    login: true,
    steps: [
      'SELECT Archive',
      'STORE 1 +FLAGS.SILENT (\\Deleted)', 'EXPUNGE', 'FETCH 1:* (UID FLAGS)', 'STORE 1:* +FLAGS.SILENT (\\Deleted)', 'UID EXPUNGE 3', 'FETCH 1:* (UID FLAGS)', 'CLOSE',
      'STATUS Archive (MESSAGES UIDNEXT)', 'EXAMINE Archive', 'EXPUNGE', 'CLOSE', 'SELECT Archive', 'EXPUNGE', 'STATUS Archive (MESSAGES)',
    ],
  },
  {
    name: 'append',
    login: true,
    steps: [
      { parts: ['APPEND Drafts (\\Draft) "03-Mar-2024 03:03:03 +0000" ', Buffer.from('From: ann@example.org\r\nSubject: draft\r\n\r\nDraft body.\r\n')] },
      { parts: ['APPEND Drafts ', Buffer.from('Subject: plus\r\n\r\nLITERAL+.\r\n')], literalPlus: true },
      { parts: ['APPEND Drafts () "04-Apr-2024 04:04:04 +0000" ', Buffer.from('Subject: date only\r\n\r\nx\r\n')] },
      { parts: ['APPEND Nope ', Buffer.from('Subject: nowhere\r\n\r\nx\r\n')] },
      'STATUS Drafts (MESSAGES UIDNEXT)', 'EXAMINE Drafts', 'FETCH 1 (FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[])', 'FETCH 3 (FLAGS INTERNALDATE)',
      { parts: ['APPEND Drafts (\\Bogus) ', Buffer.from('Subject: bad flag\r\n\r\nx\r\n')] },
      { parts: ['APPEND Drafts (\\Seen) "07-Jul-2024 07:07:07 +0000" ', Buffer.from('Subject: multi 1\r\n\r\nx\r\n'), ' (\\Flagged) "05-May-2024 05:05:05 +0000" ', Buffer.from('Subject: multi 2\r\n\r\ny\r\n')] },
      'FETCH 4:* (FLAGS INTERNALDATE BODY.PEEK[HEADER.FIELDS (SUBJECT)])',
      { parts: ['APPEND Drafts ', Buffer.alloc(0)] },
    ],
  },
  {
    name: 'idle',
    login: true,
    steps: [
      'ENABLE FOO', 'ID NIL', 'ID ("name" "differential")', 'ENABLE CONDSTORE QRESYNC', 'SELECT INBOX', { idle: true }, 'NOOP',
      { idle: true, changes: [['APPEND INBOX (\\Seen) "06-Jun-2024 06:06:06 +0000" ', Buffer.from('Subject: while idle\r\n\r\nx\r\n')]] },
      { idle: true, changes: ['STORE 1 +FLAGS (\\Flagged)'] },
      { idle: true, changes: ['UID STORE 1 +FLAGS.SILENT (\\Deleted)', 'UID EXPUNGE 1'] },
      'NOOP', 'FETCH 1:* (UID FLAGS)', 'STORE 2 +FLAGS.SILENT (\\Deleted)', 'EXPUNGE', 'SELECT INBOX', 'ENABLE CONDSTORE', 'EXAMINE Sent', 'LOGOUT',
    ],
  },
  // each error session stays under both servers' limits of bad commands (Dovecot's login
  // process closes after three)
  { name: 'errors1', login: false, steps: ['FOO', 'FETCH 1 FLAGS', 'NOOP'] },
  { name: 'errors2', login: false, steps: ['LOGIN', 'LOGIN a', 'NOOP'] },
  { name: 'errors3', login: false, steps: ['AUTHENTICATE NOPE', { raw: '' }] },
  { name: 'errors4', login: false, steps: [{ raw: 'no-space-tag' }, 'LIST "" "*"'] },
  { name: 'errors5', login: true, steps: ['FETCH 1 FLAGS', 'STORE 1 +FLAGS (\\Seen)', 'EXPUNGE', 'CLOSE', 'SELECT', 'SELECT "unterminated', 'CREATE'] },
  { name: 'errors6', login: true, steps: ['STATUS INBOX', 'STATUS INBOX ()', 'STATUS INBOX (FOO)', 'LIST', 'LIST "" "*" RETURN (FOO)'] },
  { name: 'errors7', login: true, steps: ['SELECT INBOX', 'COPY 99 Archive', 'MOVE', 'UID FOO 1', 'UID EXPUNGE', 'LOGOUT'] },
];

/** A difference an RFC allows: for the commands matching `command` (their "session:command"
 * text), `normalise` maps each normalised line of both servers' answers to what the RFC leaves
 * open (null drops the line), so that whatever remains different is a real difference. */
interface Allowed { why: string; command: RegExp; normalise: (line: string) => string | null }

/** Extensions only one of the two implements (Dovecot 2.3: no IMAP4rev2, no UTF8=ACCEPT, QUOTA
 * and COMPRESS are plugins this peer does not load, SASL: PLAIN LOGIN here; Postern: no NOTIFY,
 * CATENATE, URL-PARTIAL, ESORT, CONTEXT=SEARCH, WITHIN, PREVIEW, SNIPPET, SAVEDATE, I18NLEVEL,
 * SORT=DISPLAY, THREAD=ORDEREDSUBJECT/REFS, LOGIN-REFERRALS). */
const ONE_SIDED_CAPS = /^\* CAPABILITY (LOGIN-REFERRALS|CATENATE|CONTEXT=SEARCH|ESORT|I18NLEVEL=\d+|NOTIFY|PREVIEW(=FUZZY)?|SNIPPET=FUZZY|SAVEDATE|SORT=DISPLAY|THREAD=ORDEREDSUBJECT|THREAD=REFS|URL-PARTIAL|WITHIN|IMAP4REV2|APPENDLIMIT=\d+|COMPRESS=DEFLATE|CREATE-SPECIAL-USE|QUOTA|QUOTA=RES-\S+|UTF8=ACCEPT|AUTH=CRAM-MD5|AUTH=SCRAM-SHA-256)$/;
const SPECIAL_USE_ATTRS = /\\(All|Archive|Drafts|Flagged|Junk|Sent|Trash) ?/g;
const CHILD_ATTRS = /\\Has(No)?Children ?/g;
const attrs = (line: string, drop: RegExp): string => line.replace(/^(\* (?:LIST|LSUB) \()([^)]*)(\).*)$/s, (_m, a: string, list: string, b: string) => `${a}${list.replace(drop, '').trim()}${b}`);
/** A literal8 `~{n}` holding no NUL, CR or LF, shown as the quoted string it could have been. */
function literal8AsString(line: string): string {
  let out = '';
  let i = 0;
  for (;;) {
    const at = line.indexOf('~{', i);
    const m = at < 0 ? null : /^~\{(\d+)\}\r\n/.exec(line.slice(at));
    if (m === null) return out + line.slice(i);
    const data = line.slice(at + m[0].length, at + m[0].length + Number(m[1]));
    out += line.slice(i, at) + (/[\0\r\n]/.test(data) ? m[0] + data : `"${data.replace(/["\\]/g, '\\$&')}"`);
    i = at + m[0].length + data.length;
  }
}

const ALLOWED: Allowed[] = [
  {
    why: 'RFC 9051 §7.2.2: "The capability listing contains a space-separated listing of capability names that the server supports." Each server lists the extensions it implements; these are implemented by one of the two only.',
    command: /./,
    normalise: (l) => (ONE_SIDED_CAPS.test(l) ? null : l),
  },
  {
    why: 'RFC 9051 §6.1.1 (CAPABILITY): the list may differ before and after authentication ("the server MAY ... send a different list after login"), e.g. Dovecot lists IDLE before login and SASL-IR after; Postern lists IDLE after login and SASL-IR before.',
    command: /^capability:(CAPABILITY|LOGIN)/,
    normalise: (l) => (/^\* CAPABILITY (IDLE|SASL-IR)$/.test(l) ? null : l),
  },
  {
    why: 'RFC 5258 §4: "The CHILDREN return option is simply an indication that the client wants this information; a server MAY provide it even if the option is not specified." (Postern always sends \\HasChildren / \\HasNoChildren; Dovecot drops them with other return options.)',
    command: /^list:LIST (?!.*RETURN \(.*CHILDREN)/,
    normalise: (l) => attrs(l, CHILD_ATTRS),
  },
  {
    why: 'RFC 6154 §2 / §5.1: special-use attributes are mailbox attributes of LIST responses; the SPECIAL-USE return option makes them REQUIRED, and nothing forbids them otherwise (Dovecot itself sends them on a plain LIST but not with other return options; LSUB is RFC 3501\'s and carries no special use).',
    command: /^list:(LIST (?!.*SPECIAL-USE).*(RETURN|\(SUBSCRIBED|\(SPECIAL|"" \()|LSUB)/,
    normalise: (l) => attrs(l, SPECIAL_USE_ATTRS),
  },
  {
    why: 'RFC 9051 §6.3.4 (CREATE): "If the server\'s hierarchy separator character appears elsewhere in the name, the server SHOULD create any superior hierarchical names that are needed for the CREATE command to be successfully completed." Postern creates Projects for CREATE Projects/2024 (a real, selectable mailbox, so DELETE Projects succeeds); Dovecot\'s maildir only shows it as \\Noselect / \\NonExistent.',
    command: /^list:(LIST "" "(Projects\*|%)"|DELETE Projects$)/,
    normalise: (l) => (/"\/" Projects$/.test(l) ? l.replace(/\\(Noselect|NonExistent) ?/g, '').replace(' )', ')') : l.replace(/^(lis\d+) (OK|NO \[NONEXISTENT\])$/, '$1 <superior deleted>')),
  },
  {
    why: 'RFC 9051 §7.1: "Status responses MAY include an OPTIONAL "response code"." (Postern adds [CANNOT] / [NONEXISTENT] where Dovecot has none; Dovecot adds [CLIENTBUG] / [ALERT] where Postern has none; RFC 5530 defines them.)',
    command: /./,
    normalise: (l) => l.replace(/^(\S+ (?:OK|NO)) \[(CANNOT|NONEXISTENT|CLIENTBUG|ALERT)\]$/, '$1'),
  },
  {
    why: 'RFC 5256 §3 (SORT): TO / CC sort by "[IMAP] addr-mailbox of the first \'To\' / \'cc\' address"; RFC 5322 §3.4: address = mailbox / group, and a group has no addr-mailbox of its own. For "To: Team: ann@…, bob@…;" and "Cc: undisclosed-recipients:;" Dovecot takes the group name (the mailbox of IMAP\'s group-start marker), Postern the group\'s first member (none: the empty key).',
    command: /^sort:SORT \((TO|CC)\) UTF-8 ALL$/,
    normalise: (l) => (/^\* SORT /.test(l) ? `* SORT <order with group addresses: ${l.split(' ').slice(2).filter((n) => n !== '5').join(' ')}>` : l),
  },
  {
    why: 'RFC 7162 §3.1.2.1: "A server supporting the persistent storage of mod-sequences for the mailbox MUST send the OK untagged response including HIGHESTMODSEQ response code with every successful SELECT or EXAMINE command." Postern keeps mod-sequences for every mailbox and always sends it; Dovecot starts keeping them for a mailbox at its first CONDSTORE use and sends it from then on.',
    command: /:(SELECT|EXAMINE) /,
    normalise: (l) => (l === '* OK [HIGHESTMODSEQ <modseq>]' ? null : l),
  },
  {
    why: 'RFC 9051 §7.1: "BADCHARSET: Optionally followed by a parenthesized list of charsets."',
    command: /./,
    normalise: (l) => l.replace(/\[BADCHARSET \([^)]*\)\]/, '[BADCHARSET]'),
  },

  {
    why: 'RFC 9051 §7.5.2 (formal syntax): msg-att-static =/ "BODY" section ["<" number ">"] SP nstring: a part that does not exist (part 2 of a single-part message) is NIL for Postern, the empty string for Dovecot; both are nstrings.',
    command: /^fetch:FETCH 1 BODY\.PEEK\[2\]$/,
    normalise: (l) => l.replace('BODY[2] ""', 'BODY[2] NIL'),
  },
  {
    why: 'RFC 3516 §4.3 (BINARY): "If the domain of the decoded data is "8bit" and the data does not contain the NUL octet, the server SHOULD return the data in a <string> instead of a <literal8>." Postern does; Dovecot sends ~{n}.',
    command: /BINARY/,
    normalise: (l) => literal8AsString(l),
  },
  {
    why: 'RFC 7162 §3.1: after a CONDSTORE-enabling command the server MUST add MODSEQ to FETCH responses it sends for flag changes; "this rule doesn\'t affect untagged FETCH responses caused by a FETCH command that doesn\'t include UID and/or a MODSEQ FETCH data item": there MODSEQ is neither required nor forbidden (Postern adds it, Dovecot does not).',
    command: /^(fetch|store|idle):(UID )?FETCH (?!.*MODSEQ)/,
    normalise: (l) => l.replace(/ MODSEQ \(<modseq>\)|MODSEQ \(<modseq>\) /, ''),
  },
  {
    why: 'RFC 9051 §7.3.5 (FLAGS): "The flag parenthesized list identifies the flags (at a minimum, the system-defined flags) that are applicable for this mailbox." Dovecot keeps every keyword ever used in the list and announces new ones with FLAGS / PERMANENTFLAGS after STORE; Postern lists the keywords in use at SELECT.',
    command: /./,
    normalise: (l) => (/^\* (FLAGS|OK \[PERMANENTFLAGS) /.test(l) ? l.replace(/ ?\$\w+/g, '').replace('( ', '(') : l),
  },
  {
    why: 'RFC 9051 §7.3.5: FLAGS "occurs as a result of a SELECT or EXAMINE command"; a server need not resend it when a STORE adds a keyword (Dovecot does).',
    command: /:(UID )?STORE /,
    normalise: (l) => (/^\* (FLAGS|OK \[PERMANENTFLAGS) /.test(l) ? null : l),
  },
  {
    why: 'RFC 3501 §2.3.2 (\\Recent): "This session is the first session to have been notified about this message"; when a message arrives while two sessions have the mailbox selected (the one appending and one in IDLE), which is first is not specified. Dovecot gives it to the appending session, Postern to the IDLE one (RECENT count, \\Recent flag).',
    command: /^idle:(IDLE … DONE \(elsewhere: APPEND|FETCH 1:\* \(UID FLAGS\))/,
    normalise: (l) => (/^\* \d+ RECENT$/.test(l) ? null : l.replace(/\\Recent ?/, '').replace(' )', ')')),
  },
  {
    why: 'RFC 3501 §2.3.2 (\\Recent): "if the session is read-only, subsequent sessions will also see \\Recent set for this message": whether the read-only session itself shows \\Recent for messages that arrive while it has the mailbox selected is not said. Dovecot does (RECENT count and flag); Postern\'s read-only view shows \\Recent for the unclaimed messages present at EXAMINE, not for later arrivals.',
    command: /^append:(APPEND Drafts \(\\Seen\) "07-Jul|FETCH 4:\*)/,
    normalise: (l) => (/^\* \d+ RECENT$/.test(l) ? null : l.replace(/\\Recent ?/, '').replace(' )', ')')),
  },
  {
    why: 'RFC 7162 §7 (formal syntax): resp-text-code =/ "HIGHESTMODSEQ" SP mod-sequence-value, in any untagged OK: Dovecot volunteers one in IDLE after changes that carry no MODSEQ of their own (an arrival, an expunge); Postern does not (the MODSEQ of each FETCH, and HIGHESTMODSEQ at the next SELECT, tell the client the same).',
    command: /^idle:IDLE … DONE \(elsewhere/,
    normalise: (l) => (l === '* OK [HIGHESTMODSEQ <modseq>]' ? null : l),
  },
  {
    why: 'RFC 9051 §7.5.2 / RFC 3501 §7.4.2: a FETCH response with FLAGS is a "unilateral server decision (e.g., flag updates)"; Postern tells the \\Deleted set elsewhere and then the expunge, Dovecot only the expunge of the same message; the client ends in the same state.',
    command: /^idle:IDLE … DONE \(elsewhere: UID STORE 1 \+FLAGS\.SILENT \(\\Deleted\); UID EXPUNGE 1\)$/,
    normalise: (l) => (/^\* 1 FETCH \(FLAGS \([^)]*\\Deleted[^)]*\) MODSEQ \(<modseq>\) UID 1\)$/.test(l) ? null : l),
  },
  {
    why: 'RFC 9051 §6.3.2 (EXAMINE): "No changes to the permanent state of the mailbox, including per-user state, are permitted." Both leave the read-only mailbox unchanged; Postern says so (NO [READ-ONLY]), Dovecot answers OK.',
    command: /^(store:STORE 1 \+FLAGS \(\\Flagged\)|expunge:EXPUNGE)$/,
    normalise: (l) => l.replace(/ NO \[READ-ONLY\]$/, ' OK'),
  },
  {
    why: 'RFC 9051 §9 (formal syntax): QUOTED-CHAR = <any TEXT-CHAR except quoted-specials> / "\\" quoted-specials / UTF8-2 / UTF8-3 / UTF8-4. Postern serves IMAP4rev2 on the same listener and takes UTF-8 in a quoted string (no message matches: ß is not SS); Dovecot (IMAP4rev1 only) answers BAD.',
    command: /^search:SEARCH SUBJECT "GR/,
    normalise: (l) => (/^\* SEARCH$/.test(l) ? null : l.replace(/^(sea\d+) (OK|BAD)$/, '$1 <8-bit quoted string>')),
  },
  {
    why: 'RFC 9051 §6.3.12 (APPEND): "the message argument SHOULD be in the format of an [RFC-5322] message" is asked of the client; the server may take an empty one (Postern appends it, APPENDUID and the EXISTS of the selected Drafts follow) or refuse it (Dovecot: NO).',
    command: /^append:APPEND Drafts \{0\}$/,
    normalise: (l) => (/^\* \d+ EXISTS$/.test(l) ? null : l.replace(/^(app\d+) (OK \[APPENDUID <uidvalidity> \d+\]|NO)$/, '$1 <empty message>')),
  },
  {
    why: 'RFC 5161 §4 (formal syntax): enable-data = "ENABLED" *(SP capability): an ENABLED response naming nothing is valid (Postern sends it for ENABLE FOO; Dovecot sends none).',
    command: /^idle:ENABLE FOO$/,
    normalise: (l) => (l === '* ENABLED' ? null : l),
  },
  {
    why: 'RFC 5161 §3.1: the ENABLED response names the extensions the command enabled; CONDSTORE was on already (ENABLE QRESYNC implies it, RFC 7162 §3.2.3), so Postern names none; Dovecot names it again.',
    command: /^idle:ENABLE CONDSTORE$/,
    normalise: (l) => (l === '* ENABLED CONDSTORE' ? '* ENABLED' : l),
  },

];

let ref: DovecotPeer;
let subject: ImapTarget;

before(async () => {
  subject = await startTarget({ users: USERS });
  // the reference offers STARTTLS too (with the subject's certificate)
  ref = await startDovecot({ users: USERS, tls: { certFile: subject.certFile, keyFile: subject.keyFile } });
});
after(async () => {
  await subject?.stop();
  await ref?.stop();
});

interface Diff { session: string; command: string; dovecot: string[]; postern: string[]; unexplained: string[]; applied: Allowed[] }

async function runStep(c: RawClient, tag: string, step: Step, other: () => Promise<RawClient>): Promise<string[]> {
  if (typeof step === 'string') return c.command(tag, [step]);
  if ('raw' in step) {
    // whatever the line provokes, then a NOOP's responses (so that silence is an answer too)
    c.line(step.raw);
    return c.command(tag, ['NOOP']);
  }
  if ('idle' in step) {
    const r = await c.command(tag, ['IDLE']);
    if (!r[r.length - 1]!.startsWith('+')) return r;
    const told: string[] = [];
    if (step.changes !== undefined) {
      const o = await other();
      for (const [k, ch] of step.changes.entries()) await o.command(`o${k}`, typeof ch === 'string' ? [ch] : ch);
      const first = await c.next(5000);
      if (first !== null) told.push(first);
      // IMAP marks no end of the updates IDLE pushes, and one change can be told in more than
      // one write (a flag change, then the expunge): take them until the connection has been
      // quiet for 500 ms (both servers push within milliseconds of the change), so that none
      // is left over for the next step under load
      for (let more = first === null ? null : await c.next(500); more !== null; more = await c.next(500)) told.push(more);
    }
    c.line('DONE');
    return [...r, ...told, ...(await c.more(tag))];
  }
  return c.command(tag, step.parts, { literalPlus: step.literalPlus ?? false });
}

function describe(step: Step): string {
  if (typeof step === 'string') return step;
  if ('raw' in step) return `(raw) ${JSON.stringify(step.raw)}`;
  if ('idle' in step) return `IDLE … DONE${step.changes === undefined ? '' : ` (elsewhere: ${step.changes.map((ch) => (typeof ch === 'string' ? ch : ch.map((p) => (typeof p === 'string' ? p : `{${p.length}}`)).join(''))).join('; ')})`}`;
  return step.parts.map((p) => (typeof p === 'string' ? p : `{${p.length}}`)).join('');
}

async function runSession(s: Session, diffs: Diff[]): Promise<void> {
  const d = await connectRaw(ref.port);
  const p = await connectRaw(subject.port, subject.host);
  // the other session of each server (IDLE's changes), opened when first needed
  const others: RawClient[] = [];
  const otherOf = (port: number, host: string): (() => Promise<RawClient>) => {
    let o: Promise<RawClient> | null = null;
    return () => (o ??= (async () => {
      const c = await connectRaw(port, host);
      others.push(c);
      await c.command('o0', [LOGIN]);
      await c.command('o1', ['SELECT INBOX']);
      return c;
    })());
  };
  const od = otherOf(ref.port, '127.0.0.1');
  const op = otherOf(subject.port, subject.host);
  try {
    if (s.login) {
      for (const [c, name] of [[d, 'dovecot'], [p, 'postern']] as const) {
        const r = await c.command('L0', [LOGIN]);
        assert.match(r[r.length - 1]!, /^L0 OK/, `${name} login: ${r.join(' | ')}`);
      }
    }
    for (const [k, step] of s.steps.entries()) {
      const tag = `${s.name.slice(0, 3)}${k + 1}`;
      const [rd, rp] = await Promise.all([runStep(d, tag, step, od).catch((e: Error) => [`(error) ${e.message}`]), runStep(p, tag, step, op).catch((e: Error) => [`(error) ${e.message}`])]);
      const command = `${s.name}:${describe(step)}`;
      const nd = normalise(rd);
      const np = normalise(rp);
      if (process.env.POSTERN_DIFF_DUMP !== undefined) console.log(`## ${command}\n${nd.join('\n')}`);
      if (JSON.stringify(nd) === JSON.stringify(np)) continue;
      let ad = nd;
      let ap = np;
      const applied: Allowed[] = [];
      for (const a of ALLOWED) {
        if (!a.command.test(command)) continue;
        const nd2 = ad.map(a.normalise).filter((x): x is string => x !== null);
        const np2 = ap.map(a.normalise).filter((x): x is string => x !== null);
        // used: it made the two answers differ less
        const before = multisetMinus(ad, ap).length + multisetMinus(ap, ad).length;
        if (multisetMinus(nd2, np2).length + multisetMinus(np2, nd2).length < before) applied.push(a);
        ad = nd2;
        ap = np2;
      }
      const sorted = (x: string[]): string[] => [...x.slice(0, -1)].sort().concat(x.slice(-1));
      const unexplained = JSON.stringify(sorted(ad)) === JSON.stringify(sorted(ap)) ? [] : [...multisetMinus(ad, ap).map((l) => `- ${l}`), ...multisetMinus(ap, ad).map((l) => `+ ${l}`)];
      diffs.push({ session: s.name, command, dovecot: multisetMinus(nd, np), postern: multisetMinus(np, nd), unexplained, applied });
    }
  } finally {
    for (const c of [d, p, ...others]) c.close();
  }
}

function multisetMinus(a: readonly string[], b: readonly string[]): string[] {
  const left = new Map<string, number>();
  for (const x of b) left.set(x, (left.get(x) ?? 0) + 1);
  const out: string[] = [];
  for (const x of a) {
    const n = left.get(x) ?? 0;
    if (n > 0) left.set(x, n - 1);
    else out.push(x);
  }
  return out;
}

test('differential: the scripted sessions answer like Dovecot, but for the listed differences', async () => {
  const diffs: Diff[] = [];
  for (const s of SESSIONS) await runSession(s, diffs);
  const bad = diffs.filter((x) => x.unexplained.length > 0);
  const used = ALLOWED.filter((a) => diffs.some((x) => x.applied.includes(a)));
  if (process.env.POSTERN_DIFF_VERBOSE !== undefined) {
    for (const x of diffs) console.log(`${x.command}\n${x.dovecot.map((l) => `  - ${l}`).join('\n')}\n${x.postern.map((l) => `  + ${l}`).join('\n')}`);
    console.log(`allowances used: ${used.length} of ${ALLOWED.length}`);
    for (const a of ALLOWED.filter((x) => !used.includes(x))) console.log(`  unused: ${a.why.slice(0, 100)}`);
    for (const a of used) console.log(`  - ${a.why}\n    (${diffs.filter((x) => x.applied.includes(a)).map((x) => x.command).join('; ')})`);
  }
  assert.equal(bad.length, 0, `differences no RFC entry explains (- Dovecot, + Postern):\n${bad.map((x) => `${x.command}\n${x.unexplained.map((l) => `  ${l}`).join('\n')}`).join('\n')}`);
});
