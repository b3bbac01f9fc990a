/**
 * test/processing/structure.test.ts: the MIME structure is parsed once wherever a message comes
 * from, and stored with it. SMTP (Python smtplib) → processing (in its thread for a small
 * message, on its pool for a big one) → store: the store is handed processing's structure and
 * parses nothing (its counters on /status), and the stored structure, its offsets moved past
 * the Return-Path/Received lines, is exactly that of the stored bytes. FTP restore: a small
 * upload is parsed by the store as it appends it, a big one on the FTP service's pool; both
 * are stored and read back without another parse.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Store } from '../../src/store/store.ts';
import { parseStructure } from '../../src/store/structure.ts';
import type { ActorInfo } from '../../src/actor/types.ts';
import type { Server } from '../../actors/server.ts';
import { getJson, waitFor } from '../helpers.ts';
import { cleanup, python, startSmtpServer, waitMessages } from '../smtp/helpers.ts';
import { connectFtp, startFtp, storRaw } from '../ftp/helpers.ts';

type Counters = { given: number; parsedOnAppend: number; parsedOnRead: number; readStored: number };

function findNode(n: ActorInfo, id: string): ActorInfo | undefined {
  if (n.id === id) return n;
  for (const c of n.children ?? []) {
    const f = findNode(c, id);
    if (f !== undefined) return f;
  }
  return undefined;
}

async function storeCounters(server: Server): Promise<Counters> {
  const doc = await getJson(`http://127.0.0.1:${server.statusPort}/status`);
  return (findNode(doc.tree as ActorInfo, 'store')?.extra as { structures?: Counters } | undefined)?.structures ?? { given: -1, parsedOnAppend: -1, parsedOnRead: -1, readStored: -1 };
}

/** Every message of `address`'s INBOX with its stored structure, read from a stopped server's store. */
async function stored(dir: string, address: string): Promise<{ items: Array<{ body: Buffer; structure: ReturnType<typeof parseStructure> }>; counters: Counters }> {
  const store = await new Store({ dataDir: dir, compactIntervalMs: 0 }).open();
  try {
    const mb = store.mailbox(address);
    const metas = await mb.list('INBOX');
    const structures = await mb.fetchStructure('INBOX', metas.map((m) => m.uid));
    const items = await Promise.all(metas.map(async (m, i) => ({ body: Buffer.from((await mb.fetch('INBOX', m.uid)).body), structure: structures[i]!.structure })));
    return { items, counters: store.stats().structures };
  } finally {
    await store.close();
  }
}

const multipart = (subject: string, attachmentBytes: number): string => [
  'From: Ann <ann@example.org>', 'To: bob@example.org', `Subject: ${subject}`, 'MIME-Version: 1.0',
  'Content-Type: multipart/mixed; boundary="b1"', '', '--b1', 'Content-Type: text/plain', '', 'hello', '--b1',
  'Content-Type: application/octet-stream', 'Content-Transfer-Encoding: base64', 'Content-Disposition: attachment; filename="a.bin"', '',
  ...Array.from({ length: Math.ceil(attachmentBytes / 76) }, () => 'QUJD'.repeat(19)), '--b1--', '',
].join('\r\n');

test('SMTP → processing → store: the structure processing parsed is stored once; the store parses nothing', async () => {
  const t = await startSmtpServer();
  try {
    await t.server.admin('account.add', { address: 'bob@example.org', password: 'bob-pw' });
    const small = multipart('small one', 200);
    const big = multipart('big one', 200 * 1024); // over poolMessageSize: parsed on processing's pool
    const files = [small, big].map((m, i) => {
      const f = path.join(t.dir, `m${i}.eml`);
      fs.writeFileSync(f, m);
      return f;
    });
    const r = await python(`
import smtplib
s = smtplib.SMTP('127.0.0.1', ${t.port})
for f in ${JSON.stringify(files)}:
    s.sendmail('ann@example.org', ['bob@example.org'], open(f, 'rb').read())
s.quit()
print('ok')
`);
    assert.equal(r.stdout.trim(), 'ok', r.stderr);
    await waitMessages(t.server, 'bob@example.org', 2);
    const c = await waitFor(async () => {
      const x = await storeCounters(t.server);
      return x.given >= 2 ? x : null;
    }, 10_000, 'the store thread to report two given structures');
    assert.equal(c.parsedOnAppend, 0, 'the store parsed no delivered message');
    await t.stop();
    const { items, counters } = await stored(t.dir, 'bob@example.org');
    assert.equal(items.length, 2);
    for (const it of items) {
      assert.ok(it.body.toString('latin1').startsWith('Return-Path: '), 'the delivered copy has the prefix');
      assert.deepEqual(it.structure, parseStructure(it.body), 'the stored structure is that of the stored bytes (offsets past the prefix)');
      const attachment = it.structure.body.parts[1]!;
      assert.deepEqual(attachment.disposition, { type: 'attachment', params: [['filename', 'a.bin']] });
      assert.equal(it.body.subarray(it.structure.body.parts[0]!.bodyStart, it.structure.body.parts[0]!.end).toString(), 'hello');
    }
    assert.deepEqual(items.map((x) => x.structure.envelope.subject).sort(), ['big one', 'small one']);
    assert.deepEqual(counters, { given: 0, parsedOnAppend: 0, parsedOnRead: 0, readStored: 2 }, 'read from the records');
  } finally {
    await t.server.stop().catch(() => {});
    cleanup(t.dir);
  }
});

test('FTP restore: a small message is parsed by the store at append, a big one on the pool; both are stored with it', async () => {
  const env = await startFtp();
  try {
    await env.server.admin('account.add', { address: 'ann@example.org', password: 'ann-pw' });
    const c = await connectFtp(env.port);
    await c.login();
    assert.match(await storRaw(c, '/domains/example.org/users/ann/folders/INBOX/small.eml', multipart('restored small', 100)), /^226 /);
    assert.match(await storRaw(c, '/domains/example.org/users/ann/folders/INBOX/big.eml', multipart('restored big', 100 * 1024)), /^226 /);
    await c.ftp('QUIT');
    const x = await waitFor(async () => {
      const v = await storeCounters(env.server);
      return v.given + v.parsedOnAppend >= 2 ? v : null;
    }, 10_000, 'the store thread to report both appends');
    assert.deepEqual({ given: x.given, parsedOnAppend: x.parsedOnAppend }, { given: 1, parsedOnAppend: 1 });
    await env.stop();
    const { items, counters } = await stored(env.dir, 'ann@example.org');
    assert.deepEqual(items.map((i) => i.structure.envelope.subject), ['restored small', 'restored big']);
    for (const it of items) assert.deepEqual(it.structure, parseStructure(it.body));
    assert.deepEqual(counters, { given: 0, parsedOnAppend: 0, parsedOnRead: 0, readStored: 2 });
  } finally {
    await env.stop().catch(() => {});
    cleanup(env.dir);
  }
});
