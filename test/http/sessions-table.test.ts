/**
 * The web session table (http/session-table.ts) with an injected clock: ids and CSRF tokens are
 * 32 random bytes of base64url; `get` touches lastSeen; a session ends when idle past
 * sessionIdleTimeout or older than sessionActivityTimeout however busy; at most maxSessions
 * live (the one idle longest is evicted); `sweep` drops expired sessions; the limits are read at
 * each call (a reload applies at once); and a random run checked against a naive model.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WebSessionTable, webSessionLimits, DEFAULT_MAX_SESSIONS, SESSION_ID_PATTERN, type WebSessionLimits } from '../../src/http/session-table.ts';
import { withSeed } from '../helpers.ts';

function table(l: Partial<WebSessionLimits> = {}) {
  let now = 1_000_000;
  let limits: WebSessionLimits = { sessionIdleTimeoutMs: 1000, sessionActivityTimeoutMs: 10_000, maxSessions: 100, ...l };
  const t = new WebSessionTable(() => limits, () => now);
  return {
    t,
    advance: (ms: number) => void (now += ms),
    setLimits: (x: Partial<WebSessionLimits>) => void (limits = { ...limits, ...x }),
    now: () => now,
  };
}

test('a session: 32-byte base64url id and CSRF token, the user and ip kept, get touches lastSeen', async () => {
  const { t, advance, now } = table();
  const s = await t.create('alice@example.org', '127.0.0.1');
  assert.match(s.id, SESSION_ID_PATTERN);
  assert.match(s.csrf, SESSION_ID_PATTERN);
  assert.equal(Buffer.from(s.id, 'base64url').length, 32);
  assert.notEqual(s.id, s.csrf);
  assert.equal(s.user, 'alice@example.org');
  assert.equal(s.ip, '127.0.0.1');
  assert.equal(s.createdAt, now());
  advance(500);
  const g = await t.get(s.id);
  assert.equal(g?.lastSeen, now());
  assert.equal(g?.createdAt, s.createdAt);
  assert.equal(g?.csrf, s.csrf);
  assert.equal(await t.get('x'.repeat(43)), null);
  const ids = new Set<string>();
  for (let i = 0; i < 50; i++) ids.add((await t.create('u', 'ip')).id);
  assert.equal(ids.size, 50);
});

test('idle expiry: unused for sessionIdleTimeout ends the session; each get restarts the wait', async () => {
  const { t, advance } = table({ sessionIdleTimeoutMs: 1000 });
  const s = await t.create('a', 'ip');
  for (let i = 0; i < 5; i++) {
    advance(999);
    assert.ok(await t.get(s.id), `alive after ${i + 1} touches`);
  }
  advance(1000);
  assert.equal(await t.get(s.id), null);
  assert.equal(t.size, 0, 'an expired session is gone, not only hidden');
  advance(-1000);
  assert.equal(await t.get(s.id), null, 'and stays gone');
});

test('activity expiry: a session older than sessionActivityTimeout ends however busy', async () => {
  const { t, advance } = table({ sessionIdleTimeoutMs: 1000, sessionActivityTimeoutMs: 3000 });
  const s = await t.create('a', 'ip');
  advance(900);
  assert.ok(await t.get(s.id));
  advance(900);
  assert.ok(await t.get(s.id));
  advance(900);
  assert.ok(await t.get(s.id));
  advance(300); // 3000 ms old, 300 ms idle
  assert.equal(await t.get(s.id), null);
});

test('bounded: past maxSessions the session idle the longest is evicted, a recently used one kept', async () => {
  const { t, advance } = table({ maxSessions: 3, sessionIdleTimeoutMs: 60_000 });
  const a = await t.create('a', 'ip');
  advance(1);
  const b = await t.create('b', 'ip');
  advance(1);
  const c = await t.create('c', 'ip');
  advance(1);
  assert.ok(await t.get(a.id)); // a is now the most recently used; b is idle longest
  const d = await t.create('d', 'ip');
  assert.equal(t.size, 3);
  assert.equal(await t.get(b.id), null);
  for (const s of [a, c, d]) assert.ok(await t.get(s.id), s.user);
  assert.equal(t.dropped.evicted, 1);
});

test('sweep drops expired sessions (at most once per interval unless forced); limits apply at once', async () => {
  const { t, advance, setLimits } = table({ sessionIdleTimeoutMs: 1000 });
  for (let i = 0; i < 10; i++) await t.create(`u${i}`, 'ip');
  advance(500);
  const keep = await t.create('keep', 'ip');
  advance(600);
  assert.equal(t.sweep(true), 10);
  assert.equal(t.size, 1);
  assert.ok(await t.get(keep.id));
  assert.equal(t.sweep(), 0, 'not again within the interval');
  setLimits({ sessionIdleTimeoutMs: 100 }); // a reload shortens it
  advance(150);
  assert.equal(await t.get(keep.id), null);
  setLimits({ maxSessions: 2 });
  for (let i = 0; i < 5; i++) await t.create(`v${i}`, 'ip');
  assert.equal(t.size, 2);
});

test('webSessionLimits reads the HTTP options, and defaults what a service lacks', () => {
  const l = webSessionLimits({ protocol: { kind: 'none' } });
  assert.equal(l.maxSessions, DEFAULT_MAX_SESSIONS);
  assert.ok(l.sessionIdleTimeoutMs > 0 && l.sessionActivityTimeoutMs >= l.sessionIdleTimeoutMs);
  const p = { kind: 'none', sessionIdleTimeoutMs: 5000, sessionActivityTimeoutMs: 9000, maxSessions: 7 } as unknown as { kind: 'none' };
  assert.deepEqual(webSessionLimits({ protocol: p }), { sessionIdleTimeoutMs: 5000, sessionActivityTimeoutMs: 9000, maxSessions: 7 });
});

test('a random run of create/get/destroy/advance agrees with a naive model', async (t) => {
  await withSeed(t, async (rnd) => {
    const idle = 50, activity = 200, max = 8;
    const { t: table_, advance, now } = table({ sessionIdleTimeoutMs: idle, sessionActivityTimeoutMs: activity, maxSessions: max });
    // model: id → { createdAt, lastSeen }; eviction by smallest lastSeen (ties: earliest touched)
    const model = new Map<string, { createdAt: number; lastSeen: number; order: number }>();
    let order = 0;
    const ids: string[] = [];
    const pick = () => ids[Math.floor(rnd() * ids.length)]!;
    for (let i = 0; i < 5000; i++) {
      const r = rnd();
      if (r < 0.25) {
        while (model.size >= max) {
          let victim: string | null = null;
          for (const [id, m] of model) if (victim === null || m.order < model.get(victim)!.order) victim = id;
          model.delete(victim!);
        }
        const s = await table_.create('u', 'ip');
        model.set(s.id, { createdAt: now(), lastSeen: now(), order: order++ });
        ids.push(s.id);
      } else if (r < 0.7 && ids.length > 0) {
        const id = pick();
        const m = model.get(id);
        const live = m !== undefined && now() - m.lastSeen < idle && now() - m.createdAt < activity;
        const got = await table_.get(id);
        assert.equal(got !== null, live, `get #${i}`);
        if (m !== undefined) {
          if (live) Object.assign(m, { lastSeen: now(), order: order++ });
          else model.delete(id);
        }
      } else if (r < 0.8 && ids.length > 0) {
        const id = pick();
        await table_.destroy(id);
        model.delete(id);
      } else if (r < 0.82) {
        table_.sweep(true);
        for (const [id, m] of model) if (now() - m.lastSeen >= idle || now() - m.createdAt >= activity) model.delete(id);
      } else {
        advance(Math.floor(rnd() * 30));
      }
      assert.ok(table_.size <= max);
      assert.equal(table_.size, model.size, `size after op #${i}`);
    }
  });
});
