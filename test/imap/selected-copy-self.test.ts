/**
 * test/imap/selected-copy-self.test.ts: COPY and MOVE into the selected mailbox itself tell the
 * client the new messages (`* n EXISTS`) before the tagged OK, as APPEND does (RFC 9051 §7.4.1:
 * the client learns of the size change before it relies on it; Dovecot does the same).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { imap, message, startImap, tagged, untagged, type ImapEnv } from './helpers.ts';

let env: ImapEnv;
before(async () => {
  env = await startImap();
});
after(async () => {
  await env.stop();
});

test('COPY and MOVE into the selected mailbox: EXISTS comes with the command, before its tagged OK', async () => {
  const user = 'self@example.org';
  await env.addUser(user, 'pw');
  for (let i = 1; i <= 2; i++) await env.deliver(user, message(`s${i}`));
  const c = await imap(env.port, user);
  try {
    const sel = await c.run('SELECT INBOX');
    assert.ok(untagged(sel).includes('* 2 EXISTS'), untagged(sel).join(' | '));
    const copy = await c.run('COPY 1:2 INBOX');
    assert.match(tagged(copy), /^OK \[COPYUID \d+ 1:2 3:4\]/);
    assert.ok(untagged(copy).includes('* 4 EXISTS'), `COPY answer: ${untagged(copy).join(' | ')}`);
    const move = await c.run('UID MOVE 1 INBOX');
    assert.match(tagged(move), /^OK /);
    const u = untagged(move);
    assert.ok(u.some((l) => /^\* OK \[COPYUID \d+ 1 5\]/.test(l)), u.join(' | '));
    assert.ok(u.includes('* 1 EXPUNGE'), u.join(' | '));
    assert.ok(u.includes('* 4 EXISTS'), `MOVE answer: ${u.join(' | ')}`);
    // nothing left over for the next command
    const noop = await c.run('NOOP');
    assert.deepEqual(untagged(noop).filter((l) => /EXISTS|EXPUNGE/.test(l)), []);
  } finally {
    c.close();
  }
});
