/**
 * test/imap/selected-view.test.ts: the selected mailbox's view (src/protocols/imap/view.ts)
 * over a real store thread: changes made elsewhere (appends, flags, expunges) are told as
 * EXISTS / FETCH / EXPUNGE with sequence numbers that stay right, expunges are held back when a
 * command may not tell them, QRESYNC turns them into VANISHED, this session's own changes are
 * told once, a 'resync' re-reads the folder, and after any random mix of sessions the view and
 * the client's picture of it hold what the store holds.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StoreThread } from '../../actors/store-thread.ts';
import { StoreClient, Subscription } from '../../src/store/client.ts';
import { openView, uidSetText, type View } from '../../src/protocols/imap/view.ts';
import type { Enabled } from '../../src/protocols/imap/types.ts';
import type { MailboxApi } from '../../src/store/types.ts';
import { waitFor, withSeed } from '../helpers.ts';
import { tmpData } from '../store/helpers.ts';

const ADDR = 'ann@example.org';
const msg = (i: number): Buffer => Buffer.from(`Subject: m${i}\r\n\r\nbody ${i}\r\n`);

async function withStore(fn: (c: { mb: MailboxApi; other: MailboxApi; client: StoreClient; st: StoreThread }) => Promise<void>): Promise<void> {
  const st = await StoreThread.start({ dataDir: tmpData('postern-imapview-'), logLevel: 'silent' });
  const client = new StoreClient(st.connect('view'));
  const writer = new StoreClient(st.connect('writer'));
  try {
    await st.admin('domain.add', { name: 'example.org' });
    await st.admin('account.add', { address: ADDR, password: 'pw' });
    await fn({ mb: client.mailbox(ADDR), other: writer.mailbox(ADDR), client, st });
  } finally {
    client.close();
    writer.close();
    await st.stop();
  }
}

const open = (client: StoreClient, mb: MailboxApi, enabled: Set<Enabled> = new Set(), readOnly = false): Promise<View> =>
  openView({ mailbox: mb, subscribe: (f) => client.subscribe(ADDR, f), folder: 'INBOX', readOnly, enabled });

/** Wait until the view has folded in every change the store has made so far. */
async function settle(v: View, mb: MailboxApi): Promise<void> {
  const st = await mb.status('INBOX');
  await waitFor(() => v.highestModseq >= st.highestModseq && v.quiet, 10_000, 'view caught up');
}

test('view: changes elsewhere are told as EXISTS, FETCH and EXPUNGE (highest first), expunges held back when asked', { timeout: 60_000 }, async () => {
  await withStore(async ({ mb, other, client }) => {
    for (let i = 1; i <= 5; i++) await other.append('INBOX', msg(i));
    const v = await open(client, mb, new Set<Enabled>(['IMAP4REV2'])); // no \Recent: another test's
    assert.deepEqual([...v.uids], [1, 2, 3, 4, 5]);
    assert.equal(v.updates(true), '');

    await other.setFlags('INBOX', [2], ['\\Seen'], 'add');
    await other.expunge('INBOX', { uids: [2, 4] });
    await other.append('INBOX', msg(6));
    await settle(v, other);
    // a FETCH / STORE / SEARCH: no expunge, but EXISTS may go; sequence numbers unchanged
    assert.equal(v.updates(false), '* 6 EXISTS\r\n');
    assert.deepEqual([...v.uids], [1, 2, 3, 4, 5, 6]);
    // then a command that may: highest first, so the second number is still right
    assert.equal(v.updates(true), '* 4 EXPUNGE\r\n* 2 EXPUNGE\r\n');
    assert.deepEqual([...v.uids], [1, 3, 5, 6]);
    assert.equal(v.seqOf(5), 3);

    await other.setFlags('INBOX', [5], ['\\Flagged'], 'add');
    await settle(v, other);
    assert.equal(v.updates(false), '* 3 FETCH (FLAGS (\\Flagged))\r\n');
    v.close();
    v.close(); // idempotent
    assert.equal(v.updates(true), '');
  });
});

test('view: QRESYNC tells VANISHED and FETCH with UID and MODSEQ; CONDSTORE adds MODSEQ', { timeout: 60_000 }, async () => {
  await withStore(async ({ mb, other, client }) => {
    for (let i = 1; i <= 4; i++) await other.append('INBOX', msg(i));
    const q = await open(client, mb, new Set<Enabled>(['CONDSTORE', 'QRESYNC', 'IMAP4REV2']));
    const c = await open(client, mb, new Set<Enabled>(['CONDSTORE']), true);
    const f = await other.setFlags('INBOX', [3], ['$Junk'], 'add');
    await other.expunge('INBOX', { uids: [1, 2] });
    await settle(q, other);
    await settle(c, other);
    assert.equal(q.updates(true), `* VANISHED 1:2\r\n* 1 FETCH (UID 3 FLAGS ($Junk) MODSEQ (${f.modseq}))\r\n`);
    // c is read-only (rev1): the 4 unclaimed messages are \Recent to it too (RFC 3501 §6.3.2:
    // EXAMINE "returns the same output" as SELECT, and "MUST NOT cause messages to lose the \Recent flag")
    assert.equal(c.updates(true), `* 2 EXPUNGE\r\n* 1 EXPUNGE\r\n* 2 RECENT\r\n* 1 FETCH (FLAGS ($Junk \\Recent) MODSEQ (${f.modseq}))\r\n`);
    assert.deepEqual(q.keywords(), ['$Junk']);
    q.close();
    c.close();
  });
});

test("view: this session's own flag changes and expunges are told once, whichever comes first", { timeout: 60_000 }, async () => {
  await withStore(async ({ mb, other, client }) => {
    for (let i = 1; i <= 3; i++) await other.append('INBOX', msg(i));
    const v = await open(client, mb, new Set<Enabled>(['IMAP4REV2']));
    const r = await mb.setFlags('INBOX', [1, 2], ['\\Seen'], 'add');
    v.ownFlags(r.changed, true); // the STORE told them itself
    await settle(v, mb);
    assert.equal(v.updates(true), '');
    assert.deepEqual(v.flagsOf(1), ['\\Seen']);
    // the event first, then the result: still once
    const r2 = await mb.setFlags('INBOX', [3], ['\\Flagged'], 'add');
    await settle(v, mb);
    v.ownFlags(r2.changed, true);
    assert.equal(v.updates(true), '');
    const x = await mb.expunge('INBOX', { uids: [2] });
    v.ownExpunge(x.uids, x.modseq);
    assert.equal(v.updates(true), '* 2 EXPUNGE\r\n');
    await settle(v, mb);
    assert.equal(v.updates(true), '');
    assert.deepEqual([...v.uids], [1, 3]);
    v.close();
  });
});

test("view: a 'resync' event re-reads the folder and tells the difference", { timeout: 60_000 }, async () => {
  await withStore(async ({ mb, other, client }) => {
    for (let i = 1; i <= 4; i++) await other.append('INBOX', msg(i));
    let fake: Subscription | null = null;
    const v = await openView({
      mailbox: mb,
      folder: 'INBOX',
      readOnly: true,
      enabled: new Set(),
      // a subscription the test feeds by hand: the store's events are 'dropped'
      subscribe: async () => {
        const real = await client.subscribe(ADDR, 'INBOX');
        real.close();
        fake = new Subscription(real.start, () => {}, () => {});
        return fake;
      },
    });
    await other.expunge('INBOX', { uids: [1, 3] });
    await other.setFlags('INBOX', [4], ['\\Answered'], 'add');
    await other.append('INBOX', msg(5));
    assert.equal(v.updates(true), '');
    fake!.deliver([{ kind: 'resync', reason: 'overflow', dropped: 3, at: Date.now() }]);
    await waitFor(() => v.pending, 10_000, 'resync folded');
    // read-only: the 4 unclaimed messages were \Recent to it (RFC 3501 §2.3.2); 2 and 4 are left
    assert.equal(v.updates(true), '* 3 EXPUNGE\r\n* 1 EXPUNGE\r\n* 3 EXISTS\r\n* 2 RECENT\r\n* 2 FETCH (FLAGS (\\Answered \\Recent))\r\n');
    assert.deepEqual([...v.uids], [2, 4, 5]);
    // the events that were dropped may still come: nothing is told twice
    fake!.deliver([{ kind: 'expunge', folder: 'INBOX', modseq: 99, uids: [1, 3], at: Date.now() }, { kind: 'append', folder: 'INBOX', uid: 5, modseq: 100, flags: [], size: 10, internalDate: 0, at: Date.now() }]);
    await waitFor(() => v.highestModseq >= 100, 10_000, 'events folded');
    assert.equal(v.updates(true), '');
    v.close();
  });
});

test('view: any random mix of sessions leaves every view and its client holding what the store holds', { timeout: 120_000 }, async (t) => {
  await withStore(async ({ mb, other, client }) => {
    await withSeed(t, async (rnd) => {
      for (let i = 1; i <= 8; i++) await other.append('INBOX', msg(i));
      const flagsPool = ['\\Seen', '\\Flagged', '\\Deleted', '$Work'];
      const views = await Promise.all([open(client, mb), open(client, mb, new Set<Enabled>(['CONDSTORE', 'QRESYNC'])), open(client, mb, new Set(), true)]);
      // each view's client: its picture of the mailbox, from the initial list and what it is told
      const models = await Promise.all(views.map(async () => (await mb.list('INBOX')).map((m) => ({ uid: m.uid as number | null, flags: [...m.flags].sort() }))));
      const apply = (vi: number, text: string): void => {
        const model = models[vi]!;
        const v = views[vi]!;
        for (const line of text.split('\r\n').filter((l) => l !== '')) {
          let m: RegExpMatchArray | null;
          if ((m = /^\* (\d+) EXPUNGE$/.exec(line)) !== null) model.splice(Number(m[1]) - 1, 1);
          else if ((m = /^\* VANISHED (.+)$/.exec(line)) !== null) {
            const gone = new Set<number>();
            for (const part of m[1]!.split(',')) {
              const [a, b] = part.split(':').map(Number);
              for (let u = a!; u <= (b ?? a)!; u++) gone.add(u);
            }
            for (let i = model.length - 1; i >= 0; i--) if (gone.has(model[i]!.uid!)) model.splice(i, 1);
          } else if ((m = /^\* (\d+) EXISTS$/.exec(line)) !== null) {
            // the client fetches the new ones' UIDs and flags at once
            while (model.length < Number(m[1])) {
              const uid = v.uidAt(model.length + 1)!;
              model.push({ uid, flags: [...(v.flagsOf(uid) ?? [])].sort() });
            }
          } else if ((m = /^\* (\d+) FETCH \((?:UID \d+ )?FLAGS \(([^)]*)\)/.exec(line)) !== null) {
            model[Number(m[1]) - 1]!.flags = m[2]!.split(' ').filter((x) => x !== '' && x !== '\\Recent').sort();
          } else if (!/^\* \d+ RECENT$/.test(line)) assert.fail(`unexpected update ${line}`);
        }
      };
      for (let step = 0; step < 60; step++) {
        const live = (await mb.list('INBOX')).map((m) => m.uid);
        const pick = (): number[] => live.filter(() => rnd() < 0.3);
        const r = rnd();
        if (r < 0.25) await other.append('INBOX', msg(100 + step), { flags: rnd() < 0.5 ? ['\\Seen'] : [] });
        else if (r < 0.5) await other.setFlags('INBOX', pick(), [flagsPool[Math.floor(rnd() * 4)]!], rnd() < 0.5 ? 'add' : 'remove');
        else if (r < 0.65) await other.expunge('INBOX', { uids: pick() });
        else if (r < 0.8) {
          // view 0's own STORE, told at once as its reply would
          const res = await mb.setFlags('INBOX', pick().filter((u) => views[0]!.seqOf(u) > 0 && !views[0]!.isGone(u)), ['\\Answered'], rnd() < 0.5 ? 'add' : 'remove');
          views[0]!.ownFlags(res.changed, true);
          for (const c of res.changed) {
            const n = views[0]!.seqOf(c.uid);
            if (n > 0) models[0]![n - 1]!.flags = [...c.flags].sort();
          }
        } else if (r < 0.9) {
          const x = await mb.expunge('INBOX', { uids: pick() });
          views[0]!.ownExpunge(x.uids, x.modseq);
        }
        for (let i = 0; i < views.length; i++) if (rnd() < 0.5) apply(i, views[i]!.updates(rnd() < 0.6));
      }
      const final = await mb.list('INBOX');
      for (let i = 0; i < views.length; i++) {
        await settle(views[i]!, mb);
        apply(i, views[i]!.updates(true));
        assert.deepEqual([...views[i]!.uids], final.map((m) => m.uid), `view ${i} uids`);
        assert.deepEqual(models[i]!.map((m) => m.uid), final.map((m) => m.uid), `client ${i} uids`);
        assert.deepEqual(models[i]!.map((m) => m.flags), final.map((m) => [...m.flags].sort()), `client ${i} flags`);
        views[i]!.close();
      }
    });
  });
});

test('view: \\Recent: a delivery is recent to one read-write IMAP4rev1 session only, a read-only (EXAMINE) view never claims one: it shows only those still unclaimed when it opened', { timeout: 60_000 }, async () => {
  await withStore(async ({ mb, other, client }) => {
    await other.append('INBOX', msg(1));
    const a = await open(client, mb);
    const b = await open(client, mb);
    const ro = await open(client, mb, new Set(), true);
    assert.deepEqual([a.recentCount, b.recentCount, ro.recentCount], [1, 0, 0]);
    await other.append('INBOX', msg(2));
    for (const v of [a, b, ro]) await settle(v, other);
    const told = [a, b, ro].map((v) => v.updates(true));
    // the first to claim after the delivery has it; the message is recent to one session only
    assert.equal(told.filter((t) => t === '* 2 EXISTS\r\n* 2 RECENT\r\n').length + told.filter((t) => t === '* 2 EXISTS\r\n* 1 RECENT\r\n').length, 1, told.join('|'));
    assert.equal(told[2], '* 2 EXISTS\r\n');
    assert.equal([a, b].filter((v) => v.isRecent(2)).length, 1);
    for (const v of [a, b, ro]) v.close();
  });
});

test('uidSetText: ranges collapse, order does not matter', () => {
  assert.equal(uidSetText([5, 1, 2, 3, 9, 10]), '1:3,5,9:10');
  assert.equal(uidSetText([]), '');
  assert.equal(uidSetText([7]), '7');
});
