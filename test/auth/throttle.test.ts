/**
 * The login-failure tracker alone, with an injected clock: progressive delay, serialised checks
 * from one IP (parallel sessions do not multiply the rate), a success resets the delay (not the
 * ban count), the ban at authBanThreshold and its end after authBanTime, the window,
 * bounded memory, and its options read from a service's resolved session options.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LoginThrottle, loginThrottleOptions, type LoginThrottleOptions } from '../../src/auth/throttle.ts';
import { OFF, UNLIMITED } from '../../src/config/options.ts';
import { loadConfig } from '../../src/config/load.ts';

const OPTS: LoginThrottleOptions = { delayMs: 1000, maxDelayMs: 16_000, windowMs: 300_000, trackedIps: 3, banThreshold: UNLIMITED, banTimeMs: 600_000 };

function clocked(o: Partial<LoginThrottleOptions> = {}): { t: LoginThrottle; at: (ms: number) => void } {
  let now = 0;
  return { t: new LoginThrottle({ ...OPTS, ...o }, () => now), at: (ms) => void (now = ms) };
}

const wait = (g: ReturnType<LoginThrottle['gate']>): number => (g.banned ? -1 : g.waitMs);

test('one session: doubling delay from the second check, capped; forgotten after the window', () => {
  const { t, at } = clocked();
  const waits: number[] = [];
  let now = 0;
  for (let i = 0; i < 7; i++) {
    at(now);
    const g = t.gate('10.0.0.1');
    const w = wait(g);
    waits.push(w);
    now += w;
    at(now);
    if (w > 0 && !g.banned) assert.equal(t.recheck('10.0.0.1', g.at).banned, false);
    now += 10;
    at(now);
    t.result('10.0.0.1', false);
  }
  assert.deepEqual(waits, [0, 1000, 2000, 4000, 8000, 16000, 16000]);
  at(now + 300_001);
  assert.equal(wait(t.gate('10.0.0.1')), 0, 'forgotten after the window');
  assert.equal(t.figures().failed, 7);
  assert.equal(t.figures().checked, 8, 'checks counted when they start');
});

test('once an IP has failed, its parallel checks are serialised: at most one start per delay', () => {
  const { t } = clocked({ delayMs: 1000, maxDelayMs: 1000 });
  t.gate('10.0.0.2');
  t.result('10.0.0.2', false);
  const starts = Array.from({ length: 20 }, () => wait(t.gate('10.0.0.2')));
  assert.deepEqual(starts, Array.from({ length: 20 }, (_, i) => (i + 1) * 1000));
  assert.equal(wait(t.gate('10.0.0.3')), 0, 'another IP is not slowed');
});

test('a clean IP is neither delayed nor serialised: parallel logins run at once, until one fails', () => {
  const { t } = clocked({ delayMs: 1000, maxDelayMs: 1000 });
  const starts = Array.from({ length: 20 }, () => wait(t.gate('10.0.0.4')));
  assert.deepEqual(starts, Array.from({ length: 20 }, () => 0), 'no wait while no check has failed');
  for (let i = 0; i < 19; i++) t.result('10.0.0.4', true);
  t.result('10.0.0.4', false);
  assert.equal(wait(t.gate('10.0.0.4')), 1000, 'a failure brings the delay back');
});

test('a success resets the delay but not the failures the ban counts; an unchecked login (null) changes neither', () => {
  const { t, at } = clocked({ banThreshold: 3 });
  t.gate('a'); t.result('a', false);
  at(5000);
  const g = t.gate('a');
  assert.equal(wait(g), 1000);
  at(6000);
  t.recheck('a', 5000);
  t.result('a', null);
  at(7000);
  assert.equal(wait(t.gate('a')), 1000, 'null: still one failure');
  at(8000);
  t.recheck('a', 7000);
  t.result('a', true);
  at(9000);
  assert.equal(wait(t.gate('a')), 0, 'logged in: no delay');
  assert.equal(t.result('a', false).failures, 2);
  at(10_000);
  assert.equal(wait(t.gate('a')), 1000);
  at(11_000);
  t.recheck('a', 10_000);
  assert.deepEqual(t.result('a', false), { failures: 3, banned: true }, 'the success did not reset the ban count');
  t.gate('b');
  t.result('b', true);
  assert.equal(t.figures().tracked, 1, 'a clean IP is not kept');
});

test('ban: authBanThreshold failures ban the IP for authBanTime, then its ban count starts from zero', () => {
  const { t, at } = clocked({ delayMs: 0, banThreshold: 3, banTimeMs: 10_000 });
  for (let i = 0; i < 2; i++) { t.gate('b'); assert.equal(t.result('b', false).banned, false); }
  t.gate('b');
  assert.deepEqual(t.result('b', false), { failures: 3, banned: true });
  assert.equal(t.isBanned('b'), true);
  assert.deepEqual(t.gate('b'), { banned: true });
  assert.deepEqual(t.recheck('b', 0), { banned: true });
  assert.equal(t.isBanned('c'), false);
  assert.deepEqual(t.figures(), { checked: 3, failed: 3, refused: 2, bans: 1, banned: 1, tracked: 1 });
  at(10_001);
  assert.equal(t.isBanned('b'), false);
  assert.equal(wait(t.gate('b')), 0, 'the ban is over (no delay configured)');
  assert.equal(t.result('b', false).failures, 1);
});

test('checks queued before a ban never run, even once it has ended; the ban counts real failures only', () => {
  const { t, at } = clocked({ delayMs: 1000, maxDelayMs: 1000, banThreshold: 3, banTimeMs: 3000 });
  t.gate('q');
  t.result('q', false); // a failed IP: its checks queue behind one another
  const gates = Array.from({ length: 10 }, () => t.gate('q'));
  assert.equal(t.isBanned('q'), false, 'ten checks in flight are no ban');
  const g9 = gates[9]!;
  assert.ok(!g9.banned && g9.waitMs === 10_000);
  t.result('q', false);
  at(1000);
  assert.equal(t.recheck('q', 0).banned, false);
  assert.equal(t.result('q', false).banned, true);
  at(2000);
  assert.equal(t.recheck('q', 0).banned, true, 'banned now');
  at(9000);
  assert.equal(t.recheck('q', 0).banned, true, 'the ban is over, but this check was queued before it');
  assert.equal(wait(t.gate('q')), 1000, 'a new attempt is not clean: its delay goes on (its ban count starts again)');
});

test('bounded: at most authFailureTrackedIps addresses, the least recently touched dropped; sweep drops expired ones', () => {
  const { t, at } = clocked({ windowMs: 1000, maxDelayMs: 1000 });
  for (const ip of ['a', 'b', 'c', 'd', 'e']) { t.gate(ip); t.result(ip, false); }
  assert.equal(t.figures().tracked, 3);
  assert.equal(wait(t.gate('a')), 0, 'the oldest was dropped');
  at(5000);
  t.sweep();
  assert.equal(t.figures().tracked, 0);
});

test('options come from the service session options (TCP_OPTIONS), resolved by the config: 0 = UNLIMITED ban threshold, OFF delay', () => {
  const pop3 = (block: string) => loadConfig(`Server { pop3 = { ${block} } }`, 't').resolved.serviceOptions.pop3;
  assert.deepEqual(loginThrottleOptions(pop3('')), { delayMs: 1000, maxDelayMs: 16_000, windowMs: 300_000, trackedIps: 10_000, banThreshold: 20, banTimeMs: 600_000 });
  assert.equal(loginThrottleOptions(pop3('authBanThreshold = 0')).banThreshold, UNLIMITED);
  const o = loginThrottleOptions(pop3('authBanTime = 5 authFailureDelay = 0'));
  assert.equal(o.banTimeMs, 5000);
  assert.equal(o.delayMs, OFF);
  assert.equal(new LoginThrottle(o).delayAfter(3), 0, 'OFF: no delay');
});
