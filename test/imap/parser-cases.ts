/**
 * test/imap/parser-cases.ts: the IMAP parser's tables, shared by test/imap/parser.test.ts (what
 * the parser makes of each) and any check against another server: `VALID` (wire after the tag
 * → the command without its tag), `INVALID` (whole wire → the BAD text), and `frame` (a whole
 * command as sent → the framer's line parts and literals).
 */
import type { Command, CommandInput, FetchItem, SearchKey, Section } from '../../src/protocols/imap/types.ts';

/** A whole command as sent (UTF-8 text; literals as `{n}\r\n…`, `{n+}`, `~{n}`) → what the
 * framer hands the parser: the line parts without their literal markers, and the literals. */
export function frame(wire: string | Buffer): CommandInput {
  const b = typeof wire === 'string' ? Buffer.from(wire, 'utf8') : wire;
  const s = b.toString('latin1');
  const lines: Buffer[] = [];
  const literals: CommandInput['literals'] = [];
  const re = /(~?)\{(\d+)\+?\}\r\n/g;
  let pos = 0;
  for (;;) {
    re.lastIndex = pos;
    const m = re.exec(s);
    if (m === null) break;
    const n = Number(m[2]);
    const from = m.index + m[0].length;
    lines.push(b.subarray(pos, m.index));
    literals.push({ bytes: b.subarray(from, from + n), binary: m[1] === '~' });
    pos = from + n;
  }
  lines.push(b.subarray(pos));
  return { lines, literals };
}


type DistOmit<C> = C extends unknown ? Omit<C, 'tag'> : never;
export type Body = DistOmit<Command>;
export const T = 'a1';
const all: SearchKey = { k: 'all' };
const body = (part: number[], text: Section['text'], fields: string[] = [], peek = false, partial: { offset: number; length: number } | null = null): FetchItem => ({
  k: 'BODY[]',
  section: { part, text, fields },
  peek,
  partial,
});
const fetchCmd = (seqs: Extract<Command, { name: 'FETCH' }>['seqs'], items: FetchItem[], more: { uid?: boolean; changedSince?: number | null; vanished?: boolean } = {}): Body => ({
  name: 'FETCH',
  uid: more.uid ?? false,
  seqs,
  items,
  changedSince: more.changedSince ?? null,
  vanished: more.vanished ?? false,
});
const r1 = (from: number | '*', to: number | '*' = from) => ({ from, to });
const search = (key: SearchKey, more: { uid?: boolean; charset?: string | null; returns?: Extract<Command, { name: 'SEARCH' }>['returns'] } = {}): Body => ({
  name: 'SEARCH',
  uid: more.uid ?? false,
  charset: more.charset ?? null,
  key,
  returns: more.returns ?? null,
});
const listCmd = (reference: string, patterns: string[], more: Partial<Extract<Command, { name: 'LIST' }>> = {}): Body => ({
  name: 'LIST',
  reference,
  patterns,
  selection: more.selection ?? [],
  returns: more.returns ?? { subscribed: false, children: false, specialUse: false, status: null },
  extended: more.extended ?? false,
});
const DAY = (y: number, m: number, d: number) => Date.UTC(y, m - 1, d);

/** [wire after the tag and SP, the command without its tag]. */
export const VALID: Array<[string, Body]> = [
  // no arguments, any case
  ['CAPABILITY', { name: 'CAPABILITY' }],
  ['noop', { name: 'NOOP' }],
  ['Logout', { name: 'LOGOUT' }],
  ['STARTTLS', { name: 'STARTTLS' }],
  ['CHECK', { name: 'CHECK' }],
  ['CLOSE', { name: 'CLOSE' }],
  ['UNSELECT', { name: 'UNSELECT' }],
  ['EXPUNGE', { name: 'EXPUNGE' }],
  ['IDLE', { name: 'IDLE' }],
  ['NAMESPACE', { name: 'NAMESPACE' }],
  ['CAPABILITY  ', { name: 'CAPABILITY' }], // spaces at the end are ignored (as Dovecot does)
  // LOGIN: atoms, quoted strings with escapes, literals, UTF-8
  ['LOGIN joe secret', { name: 'LOGIN', user: 'joe', password: 'secret' }],
  ['LOGIN "joe@example.org" "pa ss \\"q\\" \\\\"', { name: 'LOGIN', user: 'joe@example.org', password: 'pa ss "q" \\' }],
  ['LOGIN {3}\r\njoe {6+}\r\nse cr\n', { name: 'LOGIN', user: 'joe', password: 'se cr\n' }],
  ['LOGIN "" ""', { name: 'LOGIN', user: '', password: '' }],
  ['LOGIN jörg "pässword"', { name: 'LOGIN', user: 'jörg', password: 'pässword' }],
  // AUTHENTICATE
  ['AUTHENTICATE plain', { name: 'AUTHENTICATE', mechanism: 'PLAIN', initial: null }],
  ['AUTHENTICATE PLAIN AGpvZQBzZWNyZXQ=', { name: 'AUTHENTICATE', mechanism: 'PLAIN', initial: 'AGpvZQBzZWNyZXQ=' }],
  ['AUTHENTICATE SCRAM-SHA-256 =', { name: 'AUTHENTICATE', mechanism: 'SCRAM-SHA-256', initial: '=' }],
  // ENABLE, ID, COMPRESS
  ['ENABLE CONDSTORE qresync UTF8=ACCEPT', { name: 'ENABLE', caps: ['CONDSTORE', 'QRESYNC', 'UTF8=ACCEPT'] }],
  ['ID NIL', { name: 'ID', params: null }],
  ['ID ("name" "imaplib" "version" NIL)', { name: 'ID', params: [['name', 'imaplib'], ['version', null]] }],
  ['ID ()', { name: 'ID', params: [] }],
  ['ID ({4}\r\nname "x")', { name: 'ID', params: [['name', 'x']] }],
  ['COMPRESS deflate', { name: 'COMPRESS', mechanism: 'DEFLATE' }],
  // SELECT / EXAMINE
  ['SELECT inbox', { name: 'SELECT', mailbox: 'INBOX', condstore: false, qresync: null }],
  ['SELECT "Inbox/Sub"', { name: 'SELECT', mailbox: 'INBOX/Sub', condstore: false, qresync: null }],
  ['SELECT Inboxes', { name: 'SELECT', mailbox: 'Inboxes', condstore: false, qresync: null }],
  ['EXAMINE Archive (CONDSTORE)', { name: 'EXAMINE', mailbox: 'Archive', condstore: true, qresync: null }],
  ['SELECT {5}\r\nDraft (condstore)', { name: 'SELECT', mailbox: 'Draft', condstore: true, qresync: null }],
  ['SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))', {
    name: 'SELECT', mailbox: 'INBOX', condstore: false,
    qresync: { uidValidity: 67890007, modseq: 20050715194045000, knownUids: [r1(41), r1(43, 211), r1(214, 541)], seqMatch: null },
  }],
  ['SELECT INBOX (QRESYNC (67890007 90060115194045000 1:29997 (5000,7500,9000,9990:9999 15000,22500,27000,29970,29973,29976,29979,29982,29985,29988,29991,29994,29997)))', {
    name: 'SELECT', mailbox: 'INBOX', condstore: false,
    qresync: {
      uidValidity: 67890007, modseq: 90060115194045000, knownUids: [r1(1, 29997)],
      seqMatch: {
        seqs: [r1(5000), r1(7500), r1(9000), r1(9990, 9999)],
        uids: [15000, 22500, 27000, 29970, 29973, 29976, 29979, 29982, 29985, 29988, 29991, 29994, 29997].map((n) => r1(n)),
      },
    },
  }],
  ['SELECT INBOX (QRESYNC (1 2))', { name: 'SELECT', mailbox: 'INBOX', condstore: false, qresync: { uidValidity: 1, modseq: 2, knownUids: null, seqMatch: null } }],
  ['SELECT INBOX (QRESYNC (1 2 (1:3 4:6)) CONDSTORE)', { name: 'SELECT', mailbox: 'INBOX', condstore: true, qresync: { uidValidity: 1, modseq: 2, knownUids: null, seqMatch: { seqs: [r1(1, 3)], uids: [r1(4, 6)] } } }],
  // mailbox management; modified UTF-7 decoded
  ['CREATE Entw&APw-rfe', { name: 'CREATE', mailbox: 'Entwürfe', use: [] }],
  ['CREATE "&U,BTFw-"', { name: 'CREATE', mailbox: '台北', use: [] }],
  ['CREATE "A &- B"', { name: 'CREATE', mailbox: 'A & B', use: [] }],
  ['CREATE MySpecial (USE (\\Drafts \\sent \\Custom))', { name: 'CREATE', mailbox: 'MySpecial', use: ['\\Drafts', '\\Sent', '\\Custom'] }],
  ['CREATE x (USE ())', { name: 'CREATE', mailbox: 'x', use: [] }],
  ['CREATE x ()', { name: 'CREATE', mailbox: 'x', use: [] }],
  ['DELETE "a b"', { name: 'DELETE', mailbox: 'a b' }],
  ['SUBSCRIBE news', { name: 'SUBSCRIBE', mailbox: 'news' }],
  ['UNSUBSCRIBE news', { name: 'UNSUBSCRIBE', mailbox: 'news' }],
  ['RENAME old "new/name"', { name: 'RENAME', from: 'old', to: 'new/name' }],
  ['RENAME INBOX Old-Inbox', { name: 'RENAME', from: 'INBOX', to: 'Old-Inbox' }],
  // LIST, LSUB, STATUS
  ['LIST "" *', listCmd('', ['*'])],
  ['LIST "" ""', listCmd('', [''])],
  ['LIST * ""', listCmd('*', [''])],
  ['LIST ~/Mail/ %', listCmd('~/Mail/', ['%'])],
  ['LIST "" inbox.*]', listCmd('', ['inbox.*]'])],
  ['LIST "" &APw-*', listCmd('', ['ü*'])],
  ['LIST (SUBSCRIBED RECURSIVEMATCH) "" %', listCmd('', ['%'], { selection: ['SUBSCRIBED', 'RECURSIVEMATCH'], extended: true, returns: { subscribed: true, children: false, specialUse: false, status: null } })],
  ['LIST () "" %', listCmd('', ['%'], { extended: true })],
  ['LIST "" (INBOX Drafts "Sent*")', listCmd('', ['INBOX', 'Drafts', 'Sent*'], { extended: true })],
  ['LIST "" % RETURN (CHILDREN SPECIAL-USE)', listCmd('', ['%'], { extended: true, returns: { subscribed: false, children: true, specialUse: true, status: null } })],
  ['LIST (special-use) "" * return (subscribed status (messages unseen size))', listCmd('', ['*'], {
    selection: ['SPECIAL-USE'], extended: true, returns: { subscribed: true, children: false, specialUse: false, status: ['MESSAGES', 'UNSEEN', 'SIZE'] },
  })],
  ['LIST "" % RETURN ()', listCmd('', ['%'], { extended: true })],
  ['LSUB "" *', { name: 'LSUB', reference: '', pattern: '*' }],
  ['STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY UNSEEN DELETED SIZE RECENT HIGHESTMODSEQ APPENDLIMIT)', {
    name: 'STATUS', mailbox: 'INBOX', items: ['MESSAGES', 'UIDNEXT', 'UIDVALIDITY', 'UNSEEN', 'DELETED', 'SIZE', 'RECENT', 'HIGHESTMODSEQ', 'APPENDLIMIT'],
  }],
  ['STATUS "Entw&APw-rfe" (messages)', { name: 'STATUS', mailbox: 'Entwürfe', items: ['MESSAGES'] }],
  // QUOTA
  ['GETQUOTA ""', { name: 'GETQUOTA', root: '' }],
  ['GETQUOTAROOT inbox', { name: 'GETQUOTAROOT', mailbox: 'INBOX' }],
  ['SETQUOTA "" (STORAGE 512 message 1000)', { name: 'SETQUOTA', root: '', limits: [['STORAGE', 512], ['MESSAGE', 1000]] }],
  ['SETQUOTA "" ()', { name: 'SETQUOTA', root: '', limits: [] }],
  // FETCH
  ['FETCH 1 FLAGS', fetchCmd([r1(1)], [{ k: 'FLAGS' }])],
  ['FETCH 1:* ALL', fetchCmd([r1(1, '*')], [{ k: 'FLAGS' }, { k: 'INTERNALDATE' }, { k: 'RFC822.SIZE' }, { k: 'ENVELOPE' }])],
  ['FETCH 2 fast', fetchCmd([r1(2)], [{ k: 'FLAGS' }, { k: 'INTERNALDATE' }, { k: 'RFC822.SIZE' }])],
  ['FETCH 2 FULL', fetchCmd([r1(2)], [{ k: 'FLAGS' }, { k: 'INTERNALDATE' }, { k: 'RFC822.SIZE' }, { k: 'ENVELOPE' }, { k: 'BODY' }])],
  ['FETCH *:4,7 (UID RFC822.SIZE ENVELOPE BODYSTRUCTURE BODY MODSEQ RFC822 RFC822.HEADER RFC822.TEXT INTERNALDATE)', fetchCmd([r1('*', 4), r1(7)], [
    { k: 'UID' }, { k: 'RFC822.SIZE' }, { k: 'ENVELOPE' }, { k: 'BODYSTRUCTURE' }, { k: 'BODY' }, { k: 'MODSEQ' }, { k: 'RFC822' }, { k: 'RFC822.HEADER' }, { k: 'RFC822.TEXT' }, { k: 'INTERNALDATE' },
  ])],
  ['FETCH 1 BODY[]', fetchCmd([r1(1)], [body([], null)])],
  ['FETCH 1 body.peek[]<0.1024>', fetchCmd([r1(1)], [body([], null, [], true, { offset: 0, length: 1024 })])],
  ['FETCH 1 (BODY[HEADER] BODY[TEXT] BODY[1] BODY[1.2.3] BODY[2.MIME] BODY[3.HEADER] BODY[4.1.TEXT])', fetchCmd([r1(1)], [
    body([], 'HEADER'), body([], 'TEXT'), body([1], null), body([1, 2, 3], null), body([2], 'MIME'), body([3], 'HEADER'), body([4, 1], 'TEXT'),
  ])],
  ['FETCH 1 (BODY.PEEK[HEADER.FIELDS (From To "Message-ID" {7}\r\nsubject)]<10.20>)', fetchCmd([r1(1)], [body([], 'HEADER.FIELDS', ['FROM', 'TO', 'MESSAGE-ID', 'SUBJECT'], true, { offset: 10, length: 20 })])],
  ['FETCH 1 BODY[1.HEADER.FIELDS.NOT (Received)]', fetchCmd([r1(1)], [body([1], 'HEADER.FIELDS.NOT', ['RECEIVED'])])],
  ['FETCH 1 (BINARY[] BINARY[1.2] BINARY.PEEK[3]<0.5> BINARY.SIZE[1] BINARY.SIZE[])', fetchCmd([r1(1)], [
    { k: 'BINARY', part: [], peek: false, partial: null },
    { k: 'BINARY', part: [1, 2], peek: false, partial: null },
    { k: 'BINARY', part: [3], peek: true, partial: { offset: 0, length: 5 } },
    { k: 'BINARY.SIZE', part: [1] },
    { k: 'BINARY.SIZE', part: [] },
  ])],
  ['FETCH 1:* (FLAGS) (CHANGEDSINCE 12345)', fetchCmd([r1(1, '*')], [{ k: 'FLAGS' }], { changedSince: 12345 })],
  ['UID FETCH 300:500 (FLAGS) (CHANGEDSINCE 12345 VANISHED)', fetchCmd([r1(300, 500)], [{ k: 'FLAGS' }], { uid: true, changedSince: 12345, vanished: true })],
  ['UID FETCH 1:1000 (UID FLAGS BODY.PEEK[])', fetchCmd([r1(1, 1000)], [{ k: 'UID' }, { k: 'FLAGS' }, body([], null, [], true)], { uid: true })],
  ['FETCH $ FLAGS', fetchCmd('$', [{ k: 'FLAGS' }])],
  ['FETCH 01,007:0009 FLAGS', fetchCmd([r1(1), r1(7, 9)], [{ k: 'FLAGS' }])], // leading zeros, as Dovecot takes them
  ['FETCH 4294967295 UID', fetchCmd([r1(4294967295)], [{ k: 'UID' }])],
  // STORE
  ['STORE 1 FLAGS (\\Seen)', { name: 'STORE', uid: false, seqs: [r1(1)], mode: 'set', silent: false, flags: ['\\Seen'], unchangedSince: null }],
  ['STORE 1:3 +FLAGS.SILENT (\\deleted $Junk)', { name: 'STORE', uid: false, seqs: [r1(1, 3)], mode: 'add', silent: true, flags: ['\\Deleted', '$Junk'], unchangedSince: null }],
  ['STORE 1 -flags \\Answered \\FLAGGED \\draft', { name: 'STORE', uid: false, seqs: [r1(1)], mode: 'remove', silent: false, flags: ['\\Answered', '\\Flagged', '\\Draft'], unchangedSince: null }],
  ['STORE 1 FLAGS ()', { name: 'STORE', uid: false, seqs: [r1(1)], mode: 'set', silent: false, flags: [], unchangedSince: null }],
  ['UID STORE 7,9 (UNCHANGEDSINCE 320162338) +FLAGS.SILENT (\\Deleted)', { name: 'STORE', uid: true, seqs: [r1(7), r1(9)], mode: 'add', silent: true, flags: ['\\Deleted'], unchangedSince: 320162338 }],
  ['STORE 1 (UNCHANGEDSINCE 0) FLAGS (x)', { name: 'STORE', uid: false, seqs: [r1(1)], mode: 'set', silent: false, flags: ['x'], unchangedSince: 0 }],
  // COPY, MOVE, UID EXPUNGE
  ['COPY 2:4 MEETING', { name: 'COPY', uid: false, seqs: [r1(2, 4)], mailbox: 'MEETING' }],
  ['UID COPY 1:* "Entw&APw-rfe"', { name: 'COPY', uid: true, seqs: [r1(1, '*')], mailbox: 'Entwürfe' }],
  ['MOVE 1 Trash', { name: 'MOVE', uid: false, seqs: [r1(1)], mailbox: 'Trash' }],
  ['uid move 1:2 Trash', { name: 'MOVE', uid: true, seqs: [r1(1, 2)], mailbox: 'Trash' }],
  ['UID EXPUNGE 3000:3002', { name: 'UID EXPUNGE', seqs: [r1(3000, 3002)] }],
  // SEARCH
  ['SEARCH ALL', search(all)],
  ['SEARCH ALL ', search(all)],
  ['SEARCH FLAGGED SINCE 1-Feb-1994 NOT FROM "Smith"', search({ k: 'and', keys: [
    { k: 'flag', flag: '\\Flagged', set: true },
    { k: 'date', which: 'internal', op: 'since', date: DAY(1994, 2, 1) },
    { k: 'not', key: { k: 'header', field: 'FROM', value: 'Smith' } },
  ] })],
  ['SEARCH CHARSET utf-8 TEXT {6}\r\nXXXXXX', search({ k: 'text', value: 'XXXXXX' }, { charset: 'UTF-8' })],
  ['SEARCH OR (SEEN ANSWERED) (DELETED) UNDRAFT', search({ k: 'and', keys: [
    { k: 'or', a: { k: 'and', keys: [{ k: 'flag', flag: '\\Seen', set: true }, { k: 'flag', flag: '\\Answered', set: true }] }, b: { k: 'flag', flag: '\\Deleted', set: true } },
    { k: 'flag', flag: '\\Draft', set: false },
  ] })],
  ['SEARCH ANSWERED DELETED DRAFT SEEN UNANSWERED UNDELETED UNFLAGGED UNSEEN', search({ k: 'and', keys: [
    ['\\Answered', true], ['\\Deleted', true], ['\\Draft', true], ['\\Seen', true], ['\\Answered', false], ['\\Deleted', false], ['\\Flagged', false], ['\\Seen', false],
  ].map(([flag, set]) => ({ k: 'flag', flag: flag as string, set: set as boolean })) })],
  ['SEARCH NEW OLD RECENT', search({ k: 'and', keys: [{ k: 'new' }, { k: 'recent', set: false }, { k: 'recent', set: true }] })],
  ['SEARCH KEYWORD $Junk UNKEYWORD work', search({ k: 'and', keys: [{ k: 'flag', flag: '$Junk', set: true }, { k: 'flag', flag: 'work', set: false }] })],
  ['SEARCH BCC a CC b TO c SUBJECT "d e" BODY f HEADER X-Mailer ""', search({ k: 'and', keys: [
    { k: 'header', field: 'BCC', value: 'a' }, { k: 'header', field: 'CC', value: 'b' }, { k: 'header', field: 'TO', value: 'c' },
    { k: 'header', field: 'SUBJECT', value: 'd e' }, { k: 'body', value: 'f' }, { k: 'header', field: 'X-MAILER', value: '' },
  ] })],
  ['SEARCH BEFORE "31-Dec-2020" ON 1-jan-2021 SENTBEFORE 2-Mar-2000 SENTON 29-Feb-2000 SENTSINCE 01-Apr-1999', search({ k: 'and', keys: [
    { k: 'date', which: 'internal', op: 'before', date: DAY(2020, 12, 31) },
    { k: 'date', which: 'internal', op: 'on', date: DAY(2021, 1, 1) },
    { k: 'date', which: 'sent', op: 'before', date: DAY(2000, 3, 2) },
    { k: 'date', which: 'sent', op: 'on', date: DAY(2000, 2, 29) },
    { k: 'date', which: 'sent', op: 'since', date: DAY(1999, 4, 1) },
  ] })],
  ['SEARCH LARGER 1024 SMALLER 99999999999', search({ k: 'and', keys: [{ k: 'size', op: 'larger', n: 1024 }, { k: 'size', op: 'smaller', n: 99999999999 }] })],
  ['SEARCH 1:5,7 UID 100:* $', search({ k: 'and', keys: [{ k: 'seq', set: [r1(1, 5), r1(7)] }, { k: 'uid', set: [r1(100, '*')] }, { k: 'seq', set: '$' }] })],
  ['SEARCH UID $', search({ k: 'uid', set: '$' })],
  ['SEARCH MODSEQ 620162338', search({ k: 'modseq', modseq: 620162338 })],
  ['SEARCH MODSEQ "/flags/\\\\draft" all 620162338', search({ k: 'modseq', modseq: 620162338 })],
  ['SEARCH OLDER 3600 YOUNGER 60', search({ k: 'and', keys: [{ k: 'within', op: 'older', seconds: 3600 }, { k: 'within', op: 'younger', seconds: 60 }] })],
  ['SEARCH NOT NOT (OR 1 2 3)', search({ k: 'not', key: { k: 'not', key: { k: 'and', keys: [{ k: 'or', a: { k: 'seq', set: [r1(1)] }, b: { k: 'seq', set: [r1(2)] } }, { k: 'seq', set: [r1(3)] }] } } })],
  ['SEARCH RETURN (MIN MAX) FLAGGED', search({ k: 'flag', flag: '\\Flagged', set: true }, { returns: ['MIN', 'MAX'] })],
  ['SEARCH RETURN () ALL', search(all, { returns: [] })],
  ['UID SEARCH RETURN (ALL COUNT SAVE) CHARSET US-ASCII ALL', search(all, { uid: true, returns: ['ALL', 'COUNT', 'SAVE'], charset: 'US-ASCII' })],
  ['SEARCH SUBJECT "Grüße"', search({ k: 'header', field: 'SUBJECT', value: 'Grüße' })],
  // SORT, THREAD
  ['SORT (SUBJECT) UTF-8 SINCE 1-Feb-1994', {
    name: 'SORT', uid: false, criteria: [{ key: 'SUBJECT', reverse: false }], charset: 'UTF-8',
    key: { k: 'date', which: 'internal', op: 'since', date: DAY(1994, 2, 1) }, returns: null,
  }],
  ['UID SORT (REVERSE ARRIVAL CC DATE FROM SIZE TO DISPLAYFROM reverse DISPLAYTO) us-ascii ALL UNDELETED', {
    name: 'SORT', uid: true,
    criteria: [
      { key: 'ARRIVAL', reverse: true }, { key: 'CC', reverse: false }, { key: 'DATE', reverse: false }, { key: 'FROM', reverse: false }, { key: 'SIZE', reverse: false },
      { key: 'TO', reverse: false }, { key: 'DISPLAYFROM', reverse: false }, { key: 'DISPLAYTO', reverse: true },
    ],
    charset: 'US-ASCII', key: { k: 'and', keys: [all, { k: 'flag', flag: '\\Deleted', set: false }] }, returns: null,
  }],
  ['SORT RETURN (MIN COUNT) (DATE) UTF-8 ALL', { name: 'SORT', uid: false, criteria: [{ key: 'DATE', reverse: false }], charset: 'UTF-8', key: all, returns: ['MIN', 'COUNT'] }],
  ['THREAD ORDEREDSUBJECT UTF-8 SINCE 5-MAR-2000', { name: 'THREAD', uid: false, algorithm: 'ORDEREDSUBJECT', charset: 'UTF-8', key: { k: 'date', which: 'internal', op: 'since', date: DAY(2000, 3, 5) } }],
  ['UID THREAD references US-ASCII ALL', { name: 'THREAD', uid: true, algorithm: 'REFERENCES', charset: 'US-ASCII', key: all }],
];

/** [wire, the BAD text]. */
export const INVALID: Array<[string | Buffer, string]> = [
  ['a1 SELECT', 'Missing mailbox name'],
  ['a1 SELECT ', 'Missing mailbox name'],
  ['a1 FETCH 0 FLAGS', 'Invalid sequence set 0'],
  ['a1 FETCH 0:5 FLAGS', 'Invalid sequence set 0:5'],
  ['a1 FETCH 1:0 FLAGS', 'Invalid sequence set 1:0'],
  ['a1 FETCH 00 FLAGS', 'Invalid sequence set 00'],
  ['a1 FETCH 4294967296 FLAGS', 'Invalid sequence set 4294967296'],
  ['a1 FETCH 1,,2 FLAGS', 'Invalid sequence set 1,,2'],
  ['a1 FETCH 1:2:3 FLAGS', 'Invalid sequence set 1:2:3'],
  ['a1 FETCH 1,$ FLAGS', 'Invalid sequence set 1,$'],
  ['a1 FETCH 1 BODYX', 'Unknown FETCH attribute BODYX'],
  ['a1 FETCH 1 (FLAGS ALL)', 'Unknown FETCH attribute ALL'],
  ['a1 FETCH 1 ()', 'Invalid FETCH attribute'],
  ['a1 FETCH 1', 'Missing FETCH attributes'],
  ['a1 FETCH 1 BODY[MIME]', 'Invalid section MIME'],
  ['a1 FETCH 1 BODY[1.]', 'Invalid section'],
  ['a1 FETCH 1 BODY[1HEADER]', 'Expected ]'],
  ['a1 FETCH 1 BODY[0]', 'Invalid section part'],
  ['a1 FETCH 1 BODY[HEADER.FIELDS]', 'Expected a space before header field names'],
  ['a1 FETCH 1 BODY[HEADER.FIELDS ()]', 'Invalid header field name'],
  ['a1 FETCH 1 BODY[TEXT', 'Missing ]'],
  ['a1 FETCH 1 BODY[]<5>', 'Expected . in partial'],
  ['a1 FETCH 1 BODY.PEEK', 'Missing ['],
  ['a1 FETCH 1 BINARY[TEXT]', 'Expected a number for section part'],
  ['a1 FETCH 1 (FLAGS) (VANISHED)', 'VANISHED needs UID FETCH and CHANGEDSINCE'],
  ['a1 FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)', 'VANISHED needs UID FETCH and CHANGEDSINCE'],
  ['a1 UID FETCH 1 FLAGS (CHANGEDSINCE)', 'Expected a space before mod-sequence'],
  ['a1 FETCH 1 FLAGS (PARTIAL 1)', 'Unknown FETCH modifier PARTIAL'],
  ['a1 FETCH 1 (FLAGS) (CHANGEDSINCE 99999999999999999999)', 'Number too large for mod-sequence'],
  ['a1 STORE 1 FLAGS (\\Recent)', 'Invalid system flag \\Recent'],
  ['a1 STORE 1 FLAGS (\\Frob)', 'Invalid system flag \\Frob'],
  ['a1 STORE 1 =FLAGS (\\Seen)', 'Invalid STORE attribute =FLAGS'],
  ['a1 STORE 1 LABELS (x)', 'Invalid STORE attribute LABELS'],
  ['a1 STORE 1 FLAGS', 'Missing flags'],
  ['a1 STORE 1 (UNCHANGEDSINCE x) FLAGS ()', 'Expected a number for mod-sequence'],
  ['a1 COPY 1', 'Missing mailbox name'],
  ['a1 UID FROB 1', 'Unknown UID command FROB'],
  ['a1 UID LOGIN a b', 'Unknown UID command LOGIN'],
  ['a1 FROB', 'Unknown command FROB'],
  ['a1 LOGIN joe', 'Missing password'],
  ['a1 LOGIN "joe', 'Unterminated quoted string for user name'],
  ['a1 LOGIN "jo\\e" x', 'Invalid escape in quoted string for user name'],
  ['a1 LOGIN joe ~{1}\r\nx', 'A literal8 is not allowed for password'],
  ['a1 LOGIN (joe) x', 'Invalid user name'],
  ['a1 NOOP now', 'Unexpected characters after the NOOP command'],
  ['a1 NOOP {1}\r\nx', 'Unexpected characters after the NOOP command'],
  ['a1  NOOP', 'Invalid command name'],
  ['a1', 'Missing command'],
  ['', 'Empty command'],
  ['+ NOOP', 'Invalid tag'],
  ['a(1 NOOP', 'Invalid tag'],
  ['a1 AUTHENTICATE PLAIN ab!c', 'Invalid initial response (base64 or =)'],
  ['a1 ENABLE', 'Missing capability'],
  ['a1 ID', 'Missing ID parameters'],
  ['a1 ID (name)', 'Expected a string for ID field name'],
  ['a1 ID ("name")', 'Expected a space before ID field value'],
  ['a1 ID foo', 'Expected NIL or a parameter list'],
  ['a1 SELECT INBOX (FROB)', 'Unknown SELECT parameter FROB'],
  ['a1 EXAMINE INBOX (QRESYNC (0 1))', 'Invalid UIDVALIDITY'],
  ['a1 SELECT INBOX (QRESYNC (1))', 'Expected a space before mod-sequence'],
  ['a1 SELECT INBOX (QRESYNC (1 2 3 (1:2)))', 'Expected a space before known UID set'],
  ['a1 CREATE x (FOO (bar))', 'Unknown CREATE parameter FOO'],
  ['a1 CREATE x (USE (Drafts))', 'Expected a special-use attribute (\\Name)'],
  ['a1 LIST', 'Missing reference name'],
  ['a1 LIST ""', 'Missing mailbox pattern'],
  ['a1 LIST (FROB) "" %', 'Unknown LIST selection option FROB'],
  ['a1 LIST (RECURSIVEMATCH) "" %', 'RECURSIVEMATCH needs another selection option'],
  ['a1 LIST "" % RETURN (FROB)', 'Unknown LIST return option FROB'],
  ['a1 LIST "" % RETURNS ()', 'Expected RETURN'],
  ['a1 LIST "" ()', 'Invalid mailbox pattern'],
  ['a1 STATUS INBOX', 'Missing status items'],
  ['a1 STATUS INBOX ()', 'Invalid status item'],
  ['a1 STATUS INBOX (MESSAGES FROB)', 'Unknown status item FROB'],
  ['a1 APPEND INBOX', 'Missing message literal'],
  ['a1 APPEND INBOX (\\Seen)', 'Missing message literal'],
  ['a1 APPEND INBOX "32-Jan-2020 00:00:00 +0000" {1}\r\nx', 'Invalid date-time'],
  ['a1 APPEND INBOX "1-Jan-2020 24:00:00 +0000" {1}\r\nx', 'Invalid date-time'],
  ['a1 APPEND INBOX hello', 'Expected a message literal, not HELLO'],
  ['a1 APPEND INBOX UTF8 (x)', 'Expected a literal8 inside UTF8 ( )'],
  ['a1 APPEND INBOX {1}\r\nx junk', 'Expected a message literal, not JUNK'],
  ['a1 SETQUOTA "" (STORAGE)', 'Expected a space before resource limit'],
  ['a1 SEARCH', 'Missing search key'],
  ['a1 SEARCH FROB', 'Unknown search key FROB'],
  ['a1 SEARCH ()', 'Invalid search key'],
  ['a1 SEARCH (ALL', 'Missing ) after search keys'],
  ['a1 SEARCH ALL)', 'Expected a space before search key'],
  ['a1 SEARCH OR ALL', 'Missing second search key after OR'],
  ['a1 SEARCH NOT', 'Missing search key after NOT'],
  ['a1 SEARCH SINCE 1-Foo-2020', 'Invalid date 1-Foo-2020'],
  ['a1 SEARCH SINCE 30-Feb-2020', 'Invalid date 30-Feb-2020'],
  ['a1 SEARCH LARGER x', 'Expected a number for size'],
  ['a1 SEARCH KEYWORD \\Frob', 'Invalid system flag \\Frob'],
  ['a1 SEARCH MODSEQ "/flags/x" any 5', 'Invalid MODSEQ entry type ANY'],
  ['a1 SEARCH OLDER 0', 'Invalid interval'],
  ['a1 SEARCH RETURN (PARTIAL 1:5) ALL', 'Unknown SEARCH return option PARTIAL'],
  ['a1 SEARCH CHARSET', 'Missing charset'],
  ['a1 SORT SUBJECT UTF-8 ALL', 'Expected ( before sort criteria'],
  ['a1 SORT (REVERSE) UTF-8 ALL', 'Expected a space before sort criterion'],
  ['a1 SORT (FROB) UTF-8 ALL', 'Unknown sort criterion FROB'],
  ['a1 SORT (DATE) UTF-8', 'Missing search key'],
  ['a1 THREAD FROB UTF-8 ALL', 'Unknown thread algorithm FROB'],
  ['a1 THREAD REFERENCES UTF-8', 'Missing search key'],
];
