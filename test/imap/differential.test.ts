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
 * Every remaining difference is listed in ALLOWED with the RFC text that permits it; the test
 * fails on any difference no entry explains (and prints it: command, Dovecot's lines, Postern's).
 * With POSTERN_IMAP_TARGET=dovecot the subject is a second Dovecot (a check of the harness).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connectRaw, normalise, type Part, type RawClient } from './differential-wire.ts';
import { CORPUS } from './differential-corpus.ts';
import { startDovecot, type DovecotPeer } from './dovecot.ts';
import { startTarget, type ImapTarget } from './clients-env.ts';

const USER = 'ann@example.org';
const PW = 'sesame';
const USERS = [{ user: USER, password: PW }, { user: 'bob@example.org', password: PW }];

type Step = string | { parts: Part[]; literalPlus?: boolean } | { idle: true } | { raw: string };
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
      'STORE 1 BOGUS (\\Seen)', 'ENABLE CONDSTORE', 'STORE 2 (UNCHANGEDSINCE 1) +FLAGS (\\Flagged)', 'FETCH 2 (FLAGS)',
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
    name: 'copymove',
    login: true,
    steps: [
      'SELECT INBOX',
      'COPY 1 Archive', 'UID COPY 2:3 Archive', 'COPY 1 Nope', 'STATUS Archive (MESSAGES UIDNEXT)', 'MOVE 4 Trash', 'UID MOVE 5,6 Trash', 'FETCH 1:* UID',
      'MOVE 1 Nope', 'UID MOVE 9999 Trash', 'STATUS Trash (MESSAGES UIDNEXT UNSEEN)', 'SELECT Trash', 'FETCH 1:* (UID FLAGS ENVELOPE)', 'COPY 1:* INBOX', 'MOVE 1 Trash',
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
      'APPEND Drafts {0}',
    ],
  },
  {
    name: 'idle',
    login: true,
    steps: ['SELECT INBOX', { idle: true }, 'NOOP', 'ENABLE CONDSTORE QRESYNC', 'SELECT INBOX', 'ENABLE FOO', 'ID NIL', 'ID ("name" "differential")', 'LOGOUT'],
  },
  {
    name: 'errors',
    login: false,
    steps: [
      'FOO', 'FETCH 1 FLAGS', 'LOGIN', 'LOGIN a', 'AUTHENTICATE NOPE', { raw: '' }, { raw: 'no-space-tag' }, 'LIST "" "*"', LOGIN, 'FETCH 1 FLAGS', 'STORE 1 +FLAGS (\\Seen)',
      'EXPUNGE', 'CLOSE', 'SELECT', 'SELECT "unterminated', 'CREATE', 'STATUS INBOX', 'STATUS INBOX ()', 'STATUS INBOX (FOO)', 'LIST', 'LIST "" "*" RETURN (FOO)',
      'SELECT INBOX', 'COPY 99 Archive', 'MOVE', 'UID FOO 1', 'UID EXPUNGE', 'LOGOUT',
    ],
  },
];

/** Differences an RFC allows: a differing normalised line of a command matching `command` (the
 * session:command, e.g. "capability:CAPABILITY") and `line` is explained by `why`. */
interface Allowed { command: RegExp; line: RegExp; why: string }
const ALLOWED: Allowed[] = [];

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

interface Diff { session: string; command: string; dovecot: string[]; postern: string[]; unexplained: string[] }

async function runStep(c: RawClient, tag: string, step: Step): Promise<string[]> {
  if (typeof step === 'string') return c.command(tag, [step]);
  if ('raw' in step) {
    // whatever the line provokes, then a NOOP's responses (so that silence is an answer too)
    c.line(step.raw);
    return c.command(tag, ['NOOP']);
  }
  if ('idle' in step) {
    const r = await c.command(tag, ['IDLE']);
    if (!r[r.length - 1]!.startsWith('+')) return r;
    c.line('DONE');
    return [...r, ...(await c.more(tag))];
  }
  return c.command(tag, step.parts, { literalPlus: step.literalPlus ?? false });
}

function describe(step: Step): string {
  if (typeof step === 'string') return step;
  if ('raw' in step) return `(raw) ${JSON.stringify(step.raw)}`;
  if ('idle' in step) return 'IDLE … DONE';
  return step.parts.map((p) => (typeof p === 'string' ? p : `{${p.length}}`)).join('');
}

async function runSession(s: Session, diffs: Diff[]): Promise<void> {
  const d = await connectRaw(ref.port);
  const p = await connectRaw(subject.port, subject.host);
  try {
    if (s.login) {
      for (const [c, name] of [[d, 'dovecot'], [p, 'postern']] as const) {
        const r = await c.command('L0', [LOGIN]);
        assert.match(r[r.length - 1]!, /^L0 OK/, `${name} login: ${r.join(' | ')}`);
      }
    }
    for (const [k, step] of s.steps.entries()) {
      const tag = `${s.name.slice(0, 3)}${k + 1}`;
      const [rd, rp] = await Promise.all([runStep(d, tag, step).catch((e: Error) => [`(error) ${e.message}`]), runStep(p, tag, step).catch((e: Error) => [`(error) ${e.message}`])]);
      const nd = normalise(rd);
      const np = normalise(rp);
      if (process.env.POSTERN_DIFF_DUMP !== undefined) console.log(`## ${s.name}:${describe(step)}\n${nd.join('\n')}`);
      if (JSON.stringify(nd) === JSON.stringify(np)) continue;
      const command = `${s.name}:${describe(step)}`;
      const onlyD = multisetMinus(nd, np);
      const onlyP = multisetMinus(np, nd);
      const unexplained = [...onlyD.map((l) => `- ${l}`), ...onlyP.map((l) => `+ ${l}`)].filter(
        (l) => !ALLOWED.some((a) => a.command.test(command) && a.line.test(l)),
      );
      diffs.push({ session: s.name, command, dovecot: onlyD, postern: onlyP, unexplained });
    }
  } finally {
    d.close();
    p.close();
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
  const used = ALLOWED.filter((a) => diffs.some((x) => [...x.dovecot.map((l) => `- ${l}`), ...x.postern.map((l) => `+ ${l}`)].some((l) => a.command.test(x.command) && a.line.test(l))));
  if (process.env.POSTERN_DIFF_VERBOSE !== undefined) {
    for (const x of diffs) console.log(`${x.command}\n${x.dovecot.map((l) => `  - ${l}`).join('\n')}\n${x.postern.map((l) => `  + ${l}`).join('\n')}`);
    console.log(`allowances used: ${used.length} of ${ALLOWED.length}`);
  }
  assert.equal(bad.length, 0, `differences no RFC entry explains (- Dovecot, + Postern):\n${bad.map((x) => `${x.command}\n${x.unexplained.map((l) => `  ${l}`).join('\n')}`).join('\n')}`);
});
