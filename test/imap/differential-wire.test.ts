/**
 * The differential test's normaliser (differential-wire.ts), a pure function: tables of
 * responses → normal lines. What it hides must be only what two servers may choose freely
 * (human text, UIDVALIDITY, mod-sequences, orders, string forms); what it keeps must differ when
 * the meaning differs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { canonicalSet, normalise, tokens } from './differential-wire.ts';

test('tokens: atoms, quoted strings with escapes, literals whole, sections with spaces whole', () => {
  assert.deepEqual(tokens('(FLAGS (\\Seen) BODY[HEADER.FIELDS (A B)] "a \\"q\\" b" {3}\r\nx y NIL)'), [
    '(', 'FLAGS', '(', '\\Seen', ')', 'BODY[HEADER.FIELDS (A B)]', '"a \\"q\\" b"', '{3}\r\nx y', 'NIL', ')',
  ]);
});

test('canonicalSet: ascending, merged; * and junk left alone', () => {
  const cases: Array<[string, string]> = [['3,1:2,4', '1:4'], ['5:3', '3:5'], ['1,3,5', '1,3,5'], ['2,2,1', '1:2'], ['1:*', '1:*'], ['x', 'x']];
  for (const [i, o] of cases) assert.equal(canonicalSet(i), o, i);
});

test('normalise: human text dropped, codes kept, untagged sorted, the tagged line last', () => {
  assert.deepEqual(normalise(['* 2 EXISTS', '* OK [UIDVALIDITY 123] UIDs valid', '* FLAGS (\\Seen \\Answered)', 'a1 OK [READ-WRITE] Select completed (0.001 secs)']), [
    '* 2 EXISTS', '* FLAGS (\\Answered \\Seen)', '* OK [UIDVALIDITY <uidvalidity>]', 'a1 OK [READ-WRITE]',
  ]);
  assert.deepEqual(normalise(['a2 NO [TRYCREATE] Mailbox does not exist']), ['a2 NO [TRYCREATE]']);
  assert.deepEqual(normalise(['a3 BAD Error in IMAP command']), ['a3 BAD']);
  assert.deepEqual(normalise(['+ idling']), ['+']);
});

test('normalise: capabilities one per line, sorted, whether untagged or a response code of the tagged OK', () => {
  const untagged = normalise(['* CAPABILITY IMAP4rev1 IDLE AUTH=PLAIN', 'a OK done']);
  const code = normalise(['a OK [CAPABILITY IDLE IMAP4rev1 AUTH=PLAIN] Logged in']);
  assert.deepEqual(untagged, ['* CAPABILITY', '* CAPABILITY AUTH=PLAIN', '* CAPABILITY IDLE', '* CAPABILITY IMAP4REV1', 'a OK']);
  assert.deepEqual(code, untagged);
});

test('normalise FETCH: items sorted by name, flags sorted, MODSEQ hidden, a literal that could be quoted shown quoted', () => {
  const a = normalise(['* 1 FETCH (UID 7 FLAGS (\\Seen $X) MODSEQ (42) ENVELOPE (NIL {5}\r\nhello NIL))', 't OK']);
  const b = normalise(['* 1 FETCH (ENVELOPE (NIL "hello" NIL) MODSEQ (99) FLAGS ($X \\Seen) UID 7)', 't OK']);
  assert.deepEqual(a, b);
  assert.equal(a[0], '* 1 FETCH (ENVELOPE (NIL "hello" NIL) FLAGS (\\Seen $X) MODSEQ (<modseq>) UID 7)');
  // a literal holding a line break stays a literal; different contents stay different
  const c = normalise(['* 1 FETCH (BODY[] {4}\r\na\r\nb)', 't OK']);
  const d = normalise(['* 1 FETCH (BODY[] {4}\r\na\r\nc)', 't OK']);
  assert.notDeepEqual(c, d);
  assert.match(c[0]!, /\{4\}\r\na\r\nb/);
});

test('normalise: SEARCH numbers sorted (SORT kept in order), ESEARCH sets canonical, STATUS items sorted, APPENDUID/COPYUID validity hidden', () => {
  assert.deepEqual(normalise(['* SEARCH 3 1 2', 't OK']), ['* SEARCH 1 2 3', 't OK']);
  assert.deepEqual(normalise(['* SORT 3 1 2', 't OK']), ['* SORT 3 1 2', 't OK']);
  assert.deepEqual(normalise(['* ESEARCH (TAG "t") UID ALL 3,1:2 MODSEQ 9', 't OK']), ['* ESEARCH (TAG "t") UID ALL 1:3 MODSEQ <modseq>', 't OK']);
  assert.deepEqual(normalise(['* STATUS INBOX (UIDNEXT 4 MESSAGES 3 UIDVALIDITY 77)', 't OK']), ['* STATUS INBOX (MESSAGES 3 UIDNEXT 4 UIDVALIDITY <uidvalidity>)', 't OK']);
  assert.deepEqual(normalise(['t OK [APPENDUID 991 4] Append completed.']), ['t OK [APPENDUID <uidvalidity> 4]']);
  assert.deepEqual(normalise(['t OK [COPYUID 991 2,1 6:7] Done']), ['t OK [COPYUID <uidvalidity> 1:2 6:7]']);
  // the numbers that matter stay
  assert.notDeepEqual(normalise(['t OK [APPENDUID 1 4] x']), normalise(['t OK [APPENDUID 1 5] x']));
});

test('normalise: LIST attributes sorted, the mailbox kept; ID reduced to its name', () => {
  assert.deepEqual(normalise(['* LIST (\\Sent \\HasNoChildren) "/" Sent', 't OK']), ['* LIST (\\HasNoChildren \\Sent) "/" Sent', 't OK']);
  assert.deepEqual(normalise(['* ID ("name" "Dovecot")', 't OK']), normalise(['* ID ("name" "Postern" "version" "1")', 't OK']));
});
