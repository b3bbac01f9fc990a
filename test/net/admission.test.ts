/**
 * test/net/admission.test.ts: every flow limit trips exactly at its value, releases free exactly,
 * sliding windows slide, per-IP state is collected, counts never drift (property test against a
 * naive model), reconfigure keeps open counts, TripLogger logs once per interval.
 */
import { defaultSessionOptions } from '../../src/config/resolve.ts';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Admission, TripLogger } from '../../src/net/admission.ts';
import type { AdmitResult, Refusal } from '../../src/net/admission.ts';
import { compileRules } from '../../src/net/rules.ts';
import type { RuleSource } from '../../src/net/rules.ts';
import { UNLIMITED } from '../../src/config/options.ts';
import type { AllowRuleOptions, DenyRuleOptions, FlowLimits, ServiceOptions, TcpListenerOptions } from '../../src/config/options.ts';
import { prng } from '../config/fixtures.ts';

const FREE: FlowLimits = {
  maxConnections: UNLIMITED, maxIntervalConnections: UNLIMITED, timeIntervalMs: 60_000,
  peerMaxConnections: UNLIMITED, peerMaxIntervalConnections: UNLIMITED, peerTimeIntervalMs: 60_000,
};
const L1 = '127.0.0.1:110';
const L2 = '127.0.0.1:1110';
const NO_RULES: RuleSource = { allowRules: [], denyRules: [] };

interface LOpts { flow?: Partial<FlowLimits>; allowRules?: AllowRuleOptions[]; denyRules?: DenyRuleOptions[]; enable?: boolean }
function listener(key: string, o: LOpts = {}): TcpListenerOptions {
  const [host, port] = [key.slice(0, key.lastIndexOf(':')), Number(key.slice(key.lastIndexOf(':') + 1))];
  return {
    key, address: { host, port, family: 4 }, enable: o.enable ?? true, idleTimeoutMs: 30_000,
    flow: { ...FREE, ...o.flow }, sslEnable: false,
    ssl: { allowedVersions: ['tls1_2', 'tls1_3'], certFile: null, keyFile: null, caFile: null, maxChainDepth: 5,
      requestClientAuth: false, cipherSuite: null },
    allowRules: o.allowRules ?? [], denyRules: o.denyRules ?? [],
  };
}
function service(listeners: TcpListenerOptions[], o: Omit<LOpts, 'enable'> = {}): ServiceOptions {
  return {
    name: 'pop3', transport: 'tcp', listeners, udpListeners: [], allowRules: o.allowRules ?? [], denyRules: o.denyRules ?? [],
    flow: { ...FREE, ...o.flow }, maxErrors: 10, maxAuthErrors: 3, minConnThreads: 1, maxConnThreads: 2,
    threadSessions: 100, threadIdleTimeoutMs: 60_000, connThreadHeapBytes: 64 << 20, minPoolThreads: 1, maxPoolThreads: 2,
    session: defaultSessionOptions(), protocol: { kind: 'none' },
    hostname: 'localhost',
  };
}
const allow = (ipSet: string, flow: Partial<FlowLimits> = {}, priority = 10): AllowRuleOptions =>
  ({ ipSet, priority, enable: true, flow: { ...FREE, ...flow } });
const deny = (ipSet: string, priority = 10): DenyRuleOptions => ({ ipSet, priority, enable: true });

function clock(start = 1_000_000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => { t += ms; } };
}

function ok(r: AdmitResult): number {
  assert.ok(r.ok, `expected admission, got ${JSON.stringify(r)}`);
  return r.ticket;
}
function refused(r: AdmitResult, reason: string, option: string, value: number, scope?: string, ruleId?: string): Refusal {
  assert.equal(r.ok, false, `expected refusal ${reason}/${option}`);
  const f = r as Refusal;
  assert.deepEqual([f.reason, f.option, f.value], [reason, option, value]);
  if (scope !== undefined) assert.equal(f.scope, scope);
  assert.equal(f.ruleId, ruleId);
  return f;
}

interface TripCase {
  name: string;
  options: ServiceOptions;
  global?: RuleSource;
  n: number;
  kind: 'open' | 'interval';
  intervalMs?: number;
  /** Address of the i-th connection. */
  ip: (i: number) => string;
  /** An address still admitted after the trip (peer limits), if any. */
  other?: string;
  want: [reason: string, option: string, scope: string, ruleId?: string];
}

const same = (): string => '127.0.0.2';
const varied = (i: number): string => `127.0.0.${2 + i}`;
const ruleSvc = (flow: Partial<FlowLimits>): ServiceOptions => service([listener(L1)], { allowRules: [allow('127.0.0.0/8', flow)] });

const CASES: TripCase[] = [
  { name: 'listener maxConnections', options: service([listener(L1, { flow: { maxConnections: 3 } })]), n: 3, kind: 'open',
    ip: varied, want: ['listener_window', 'maxConnections', 'listener'] },
  { name: 'listener maxIntervalConnections', options: service([listener(L1, { flow: { maxIntervalConnections: 4, timeIntervalMs: 1000 } })]),
    n: 4, kind: 'interval', intervalMs: 1000, ip: varied, want: ['listener_window', 'maxIntervalConnections', 'listener'] },
  { name: 'listener peerMaxConnections', options: service([listener(L1, { flow: { peerMaxConnections: 2 } })]), n: 2, kind: 'open',
    ip: same, other: '127.0.0.3', want: ['peer_window', 'peerMaxConnections', 'listener'] },
  { name: 'listener peerMaxIntervalConnections',
    options: service([listener(L1, { flow: { peerMaxIntervalConnections: 3, peerTimeIntervalMs: 500 } })]), n: 3, kind: 'interval',
    intervalMs: 500, ip: same, other: '127.0.0.3', want: ['peer_window', 'peerMaxIntervalConnections', 'listener'] },
  { name: 'service maxConnections', options: service([listener(L1)], { flow: { maxConnections: 5 } }), n: 5, kind: 'open',
    ip: varied, want: ['service_window', 'maxConnections', 'service'] },
  { name: 'service maxIntervalConnections', options: service([listener(L1)], { flow: { maxIntervalConnections: 2, timeIntervalMs: 2000 } }),
    n: 2, kind: 'interval', intervalMs: 2000, ip: varied, want: ['service_window', 'maxIntervalConnections', 'service'] },
  { name: 'service peerMaxConnections', options: service([listener(L1)], { flow: { peerMaxConnections: 1 } }), n: 1, kind: 'open',
    ip: same, other: '::ffff:127.0.0.3', want: ['peer_window', 'peerMaxConnections', 'service'] },
  { name: 'service peerMaxIntervalConnections',
    options: service([listener(L1)], { flow: { peerMaxIntervalConnections: 3, peerTimeIntervalMs: 10_000 } }), n: 3, kind: 'interval',
    intervalMs: 10_000, ip: same, other: '127.0.0.3', want: ['peer_window', 'peerMaxIntervalConnections', 'service'] },
  { name: 'rule maxConnections (over the whole set)', options: ruleSvc({ maxConnections: 3 }), n: 3, kind: 'open', ip: varied,
    want: ['rule_window', 'maxConnections', 'rule', 'service:allow:0'] },
  { name: 'rule maxIntervalConnections (over the whole set)', options: ruleSvc({ maxIntervalConnections: 3, timeIntervalMs: 1000 }),
    n: 3, kind: 'interval', intervalMs: 1000, ip: varied, want: ['rule_window', 'maxIntervalConnections', 'rule', 'service:allow:0'] },
  { name: 'rule peerMaxConnections', options: ruleSvc({ peerMaxConnections: 2 }), n: 2, kind: 'open', ip: same, other: '127.0.0.3',
    want: ['peer_window', 'peerMaxConnections', 'rule', 'service:allow:0'] },
  { name: 'rule peerMaxIntervalConnections', options: ruleSvc({ peerMaxIntervalConnections: 2, peerTimeIntervalMs: 1000 }), n: 2,
    kind: 'interval', intervalMs: 1000, ip: same, other: '127.0.0.3', want: ['peer_window', 'peerMaxIntervalConnections', 'rule', 'service:allow:0'] },
  { name: 'global rule maxConnections', options: service([listener(L1)]), global: { allowRules: [allow('127.0.0.0/8', { maxConnections: 2 })], denyRules: [] },
    n: 2, kind: 'open', ip: varied, want: ['rule_window', 'maxConnections', 'rule', 'global:allow:0'] },
  { name: 'listener rule peerMaxConnections', options: service([listener(L1, { allowRules: [allow('127.0.0.2', { peerMaxConnections: 3 })] })]),
    n: 3, kind: 'open', ip: same, other: '127.0.0.3', want: ['peer_window', 'peerMaxConnections', 'rule', `listener(${L1}):allow:0`] },
];

for (const c of CASES) {
  test(`trips exactly at its value: ${c.name}`, () => {
    const ck = clock();
    const a = new Admission('pop3', c.options, c.global ?? NO_RULES, ck.now);
    const [reason, option, scope, ruleId] = c.want;
    const tickets: number[] = [];
    for (let i = 0; i < c.n; i++) tickets.push(ok(a.admit(L1, c.ip(i))));
    refused(a.admit(L1, c.ip(c.n)), reason, option, c.n, scope, ruleId);
    refused(a.admit(L1, c.ip(c.n)), reason, option, c.n, scope, ruleId); // refusals consume nothing
    assert.equal(a.snapshot().service.open, c.n);
    if (c.other !== undefined) a.release(ok(a.admit(L1, c.other)));
    if (c.kind === 'open') {
      assert.equal(a.release(tickets.pop()!), true);
      tickets.push(ok(a.admit(L1, c.ip(c.n))));
      refused(a.admit(L1, c.ip(c.n + 1)), reason, option, c.n, scope, ruleId);
    } else {
      for (const t of tickets.splice(0)) a.release(t); // releasing does not reopen an interval window
      refused(a.admit(L1, c.ip(c.n)), reason, option, c.n, scope, ruleId);
      ck.advance(c.intervalMs! - 1);
      refused(a.admit(L1, c.ip(c.n)), reason, option, c.n, scope, ruleId);
      ck.advance(1);
      for (let i = 0; i < c.n; i++) tickets.push(ok(a.admit(L1, c.ip(i))));
      refused(a.admit(L1, c.ip(c.n)), reason, option, c.n, scope, ruleId);
    }
    const snap = a.snapshot();
    assert.equal(snap.listeners[0]!.refused[reason as 'peer_window'] > 0, true);
    for (const t of tickets) a.release(t);
    assert.equal(a.snapshot().service.open, 0);
    assert.equal(a.openConnections, 0);
  });
}

test('deny rule refuses with its id; the refusal is counted on listener and rule', () => {
  const a = new Admission('pop3', service([listener(L1)], { denyRules: [deny('127.0.0.3', 4)] }), NO_RULES, clock().now);
  refused(a.admit(L1, '127.0.0.3'), 'deny_rule', 'priority', 4, 'rule', 'service:deny:0');
  refused(a.admit(L1, '::ffff:127.0.0.3'), 'deny_rule', 'priority', 4, 'rule', 'service:deny:0');
  ok(a.admit(L1, '127.0.0.2'));
  const s = a.snapshot();
  assert.equal(s.listeners[0]!.refused.deny_rule, 2);
  assert.equal(s.listeners[0]!.accepted, 1);
  assert.deepEqual(s.rules.map((r) => [r.id, r.matched, r.refused.deny_rule, r.open]), [['service:deny:0', 2, 2, 0]]);
});

test('unknown or disabled listener, unparseable address', () => {
  const a = new Admission('pop3', service([listener(L1), listener(L2, { enable: false })]), NO_RULES, clock().now);
  refused(a.admit('1.2.3.4:5', '127.0.0.2'), 'listener_window', 'enable', 0, 'listener');
  refused(a.admit(L2, '127.0.0.2'), 'listener_window', 'enable', 0, 'listener');
  refused(a.admit(L1, 'garbage'), 'deny_rule', 'remoteAddress', 0, 'listener');
  assert.equal(a.release(12345), false);
});

test('service limits count over all listeners; listener limits per listener', () => {
  const a = new Admission('pop3', service([listener(L1, { flow: { maxConnections: 2 } }), listener(L2)], { flow: { maxConnections: 3 } }),
    NO_RULES, clock().now);
  ok(a.admit(L1, '127.0.0.2'));
  ok(a.admit(L1, '127.0.0.2'));
  refused(a.admit(L1, '127.0.0.2'), 'listener_window', 'maxConnections', 2);
  const t = ok(a.admit(L2, '127.0.0.2'));
  refused(a.admit(L2, '127.0.0.2'), 'service_window', 'maxConnections', 3);
  a.release(t);
  assert.equal(a.release(t), false); // second release is a no-op
  const s = a.snapshot();
  assert.deepEqual(s.listeners.map((l) => [l.key, l.open]), [[L1, 2], [L2, 0]]);
  assert.equal(s.service.open, 2);
});

test('rule windows count over the whole IP set, per IP, and across listeners', () => {
  const a = new Admission('pop3', service([listener(L1), listener(L2)],
    { allowRules: [allow('127.0.0.0/8', { maxConnections: 3, peerMaxConnections: 2 })] }), NO_RULES, clock().now);
  ok(a.admit(L1, '127.0.0.2'));
  ok(a.admit(L2, '127.0.0.2'));
  refused(a.admit(L1, '127.0.0.2'), 'peer_window', 'peerMaxConnections', 2, 'rule', 'service:allow:0');
  ok(a.admit(L2, '127.0.0.3'));
  refused(a.admit(L1, '127.0.0.4'), 'rule_window', 'maxConnections', 3, 'rule', 'service:allow:0');
  ok(a.admit(L1, '10.0.0.1')); // outside the rule: default allow
  const r = a.snapshot().rules[0]!;
  assert.deepEqual([r.open, r.matched, r.refused.peer_window, r.refused.rule_window], [3, 5, 1, 1]);
});

test('interval window slides: at most N in any T ms', () => {
  const ck = clock(0);
  const a = new Admission('pop3', service([listener(L1, { flow: { maxIntervalConnections: 3, timeIntervalMs: 1000 } })]), NO_RULES, ck.now);
  const at = (t: number): AdmitResult => { ck.advance(t - ck.now()); return a.admit(L1, '127.0.0.2'); };
  ok(at(0)); ok(at(400)); ok(at(800));
  refused(at(999), 'listener_window', 'maxIntervalConnections', 3);
  ok(at(1000)); // the admission at 0 left the window
  refused(at(1001), 'listener_window', 'maxIntervalConnections', 3);
  refused(at(1399), 'listener_window', 'maxIntervalConnections', 3);
  ok(at(1400));
  ok(at(1800));
  refused(at(1999), 'listener_window', 'maxIntervalConnections', 3);
  ok(at(5000)); ok(at(5000)); ok(at(5000));
  refused(at(5000), 'listener_window', 'maxIntervalConnections', 3);
});

test('peer limits are separate for 127.0.0.2 and 127.0.0.3; mapped addresses are the same peer', () => {
  const a = new Admission('pop3', service([listener(L1, { flow: { peerMaxConnections: 2 } })]), NO_RULES, clock().now);
  ok(a.admit(L1, '127.0.0.2'));
  ok(a.admit(L1, '::ffff:127.0.0.2'));
  refused(a.admit(L1, '127.0.0.2'), 'peer_window', 'peerMaxConnections', 2);
  ok(a.admit(L1, '127.0.0.3'));
  ok(a.admit(L1, '127.0.0.3'));
  refused(a.admit(L1, '::ffff:127.0.0.3'), 'peer_window', 'peerMaxConnections', 2);
});

test('per-IP state is collected: at once without a window, after the window with one', () => {
  const ck = clock();
  const a = new Admission('pop3', service([listener(L1, { flow: { peerMaxConnections: 5 } })],
    { flow: { peerMaxIntervalConnections: 5, peerTimeIntervalMs: 1000 } }), NO_RULES, ck.now);
  for (let i = 0; i < 1000; i++) a.release(ok(a.admit(L1, `10.0.${i >> 8}.${i & 255}`)));
  // listener scope: dropped at release; service scope: windows still busy
  assert.equal(a.snapshot().service.trackedPeers, 1000);
  ck.advance(999);
  a.sweep();
  assert.equal(a.snapshot().service.trackedPeers, 1000);
  ck.advance(1);
  a.sweep();
  assert.equal(a.snapshot().service.trackedPeers, 0);
  // an open connection keeps its record
  const t = ok(a.admit(L1, '10.9.9.9'));
  ck.advance(5000);
  a.sweep();
  assert.equal(a.snapshot().service.trackedPeers, 2);
  a.release(t); // window expired already: dropped at once
  assert.equal(a.snapshot().service.trackedPeers, 0);
});

test('a flood from many IPs does not grow per-IP state without bound (amortized sweep)', () => {
  const ck = clock();
  const a = new Admission('pop3', service([listener(L1, { flow: { peerMaxIntervalConnections: 3, peerTimeIntervalMs: 1000 } })]),
    NO_RULES, ck.now);
  let max = 0;
  for (let i = 0; i < 30_000; i++) {
    ck.advance(1);
    a.release(ok(a.admit(L1, `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`)));
    max = Math.max(max, a.snapshot().service.trackedPeers);
  }
  assert.ok(max <= 1001, `tracked peers peaked at ${max}`);
});

test('reconfigure: open counts kept, new limits apply to new connections', () => {
  const ck = clock();
  const opts = (max: number, peer = UNLIMITED): ServiceOptions => service(
    [listener(L1, { flow: { maxConnections: max, peerMaxConnections: peer, maxIntervalConnections: 10, timeIntervalMs: 1000 } })]);
  const a = new Admission('pop3', opts(2), NO_RULES, ck.now);
  const t = [ok(a.admit(L1, '127.0.0.2')), ok(a.admit(L1, '127.0.0.2'))];
  refused(a.admit(L1, '127.0.0.3'), 'listener_window', 'maxConnections', 2);
  a.reconfigure(opts(3), NO_RULES);
  t.push(ok(a.admit(L1, '127.0.0.3')));
  refused(a.admit(L1, '127.0.0.3'), 'listener_window', 'maxConnections', 3);
  a.reconfigure(opts(1), NO_RULES);
  assert.equal(a.snapshot().listeners[0]!.open, 3);
  a.release(t.pop()!); a.release(t.pop()!);
  refused(a.admit(L1, '127.0.0.4'), 'listener_window', 'maxConnections', 1);
  a.release(t.pop()!);
  t.push(ok(a.admit(L1, '127.0.0.2')));
  // peer limit switched on: open connections of each IP are counted from the tickets
  a.reconfigure(opts(10, 1), NO_RULES);
  refused(a.admit(L1, '127.0.0.2'), 'peer_window', 'peerMaxConnections', 1);
  t.push(ok(a.admit(L1, '127.0.0.3')));
  // the interval window was kept across all of this: 5 admitted so far, limit 10 → lower it to 5
  a.reconfigure({ ...opts(10, 1), listeners: [listener(L1, { flow: { maxIntervalConnections: 5, timeIntervalMs: 1000 } })] }, NO_RULES);
  refused(a.admit(L1, '127.0.0.9'), 'listener_window', 'maxIntervalConnections', 5);
  for (const x of t) a.release(x);
  assert.equal(a.snapshot().service.open, 0);
});

test('reconfigure re-keys rules that moved and forgets removed rules and listeners without drift', () => {
  const ck = clock();
  const r1 = allow('127.0.0.0/8', { maxConnections: 2 });
  const a = new Admission('pop3', service([listener(L1), listener(L2)], { allowRules: [r1] }), NO_RULES, ck.now);
  const t1 = ok(a.admit(L1, '127.0.0.2'));
  const t2 = ok(a.admit(L2, '127.0.0.3'));
  // a new rule inserted before it: the rule's id changes, its open count follows it
  a.reconfigure(service([listener(L1), listener(L2)], { allowRules: [allow('10.0.0.0/8'), { ...r1, ipSet: '127.0.0.0/255.0.0.0' }] }), NO_RULES);
  const moved = a.snapshot().rules.find((r) => r.id === 'service:allow:1')!;
  assert.equal(moved.open, 2);
  refused(a.admit(L1, '127.0.0.4'), 'rule_window', 'maxConnections', 2, 'rule', 'service:allow:1');
  // rule and listener L2 removed
  a.reconfigure(service([listener(L1)]), NO_RULES);
  refused(a.admit(L2, '127.0.0.4'), 'listener_window', 'enable', 0);
  const s = a.snapshot();
  assert.deepEqual([s.rules.length, s.listeners.length, s.listeners[0]!.open, s.service.open], [0, 1, 1, 2]);
  assert.equal(a.release(t2), true);
  assert.equal(a.release(t1), true);
  const e = a.snapshot();
  assert.deepEqual([e.listeners[0]!.open, e.service.open], [0, 0]);
});

test('reconfigure with a bad IP set throws and changes nothing', () => {
  const a = new Admission('pop3', service([listener(L1, { flow: { maxConnections: 1 } })]), NO_RULES, clock().now);
  ok(a.admit(L1, '127.0.0.2'));
  assert.throws(() => a.reconfigure(service([listener(L1)], { denyRules: [deny('nope')] }), NO_RULES));
  refused(a.admit(L1, '127.0.0.2'), 'listener_window', 'maxConnections', 1);
});

test('snapshot counts accepted, refused by reason, and closes by error control and idle timeout', () => {
  const a = new Admission('pop3', service([listener(L1, { flow: { maxConnections: 1 } })]), NO_RULES, clock().now);
  ok(a.admit(L1, '127.0.0.2'));
  refused(a.admit(L1, '127.0.0.2'), 'listener_window', 'maxConnections', 1);
  a.countClose(L1, 'error_limit');
  a.countClose(L1, 'idle_timeout');
  a.countClose(L1, 'idle_timeout');
  const s = a.snapshot();
  assert.deepEqual(s.listeners[0], {
    key: L1, enable: true, open: 1, accepted: 1,
    refused: { deny_rule: 0, auth_ban: 0, listener_window: 1, service_window: 0, peer_window: 0, rule_window: 0 },
    closed: { error_limit: 1, idle_timeout: 2 },
  });
  assert.equal(s.service.name, 'pop3');
  assert.deepEqual(s.service.closed, { error_limit: 1, idle_timeout: 2 });
});

test('a login ban (banCheck) refuses as auth_ban after deny rules and before the windows; it consumes nothing', () => {
  const a = new Admission('pop3', service([listener(L1, { flow: { maxConnections: 1 } })], { denyRules: [deny('127.0.0.9', 1)] }), NO_RULES, clock().now);
  a.banCheck = (ip) => (ip === '127.0.0.2' || ip === '127.0.0.9' ? { option: 'authBanThreshold', value: 20 } : null);
  refused(a.admit(L1, '::ffff:127.0.0.2'), 'auth_ban', 'authBanThreshold', 20, 'service');
  refused(a.admit(L1, '127.0.0.9'), 'deny_rule', 'priority', 1, 'rule', 'service:deny:0');
  ok(a.admit(L1, '127.0.0.3'));
  refused(a.admit(L1, '127.0.0.2'), 'auth_ban', 'authBanThreshold', 20, 'service');
  const s = a.snapshot();
  assert.equal(s.listeners[0]!.refused.auth_ban, 2);
  assert.equal(s.service.refused.auth_ban, 2);
  assert.equal(s.listeners[0]!.open, 1);
});


test('property: 10,000 random admits/releases match a naive model exactly (decisions and open counts)', () => {
  const rnd = prng(0xC0FFEE);
  const ck = clock(0);
  const lflow = { maxConnections: 12, maxIntervalConnections: 25, timeIntervalMs: 300, peerMaxConnections: 4,
    peerMaxIntervalConnections: 8, peerTimeIntervalMs: 200 };
  const ruleFlow = { maxConnections: 9, maxIntervalConnections: 30, timeIntervalMs: 250, peerMaxConnections: 3,
    peerMaxIntervalConnections: 6, peerTimeIntervalMs: 150 };
  const listenerRules = { allowRules: [allow('127.0.0.2-127.0.0.3', ruleFlow, 5)], denyRules: [deny('127.0.0.7', 1)] };
  const opts = service([listener(L1, { flow: lflow, ...listenerRules }), listener(L2, { flow: { ...lflow, maxConnections: 15 } })], {
    flow: { maxConnections: 14, maxIntervalConnections: 40, timeIntervalMs: 400, peerMaxConnections: 6, peerMaxIntervalConnections: 12,
      peerTimeIntervalMs: 300 },
    allowRules: [allow('127.0.0.0/29', ruleFlow, 3)], denyRules: [deny('127.0.0.5', 3)],
  });
  const a = new Admission('pop3', opts, NO_RULES, ck.now);
  const ruleSets = new Map(opts.listeners.map((l) => [l.key, compileRules({ listener: l, service: opts })]));
  const ips = ['127.0.0.1', '127.0.0.2', '::ffff:127.0.0.3', '127.0.0.4', '127.0.0.5', '127.0.0.6', '127.0.0.7', '10.0.0.1'];
  interface Conn { t: number; l: string; ip: string; rule: string | null }
  const history: Conn[] = [];
  const open = new Map<number, Conn>();
  const released: number[] = [];
  const norm = (ip: string): string => ip.replace('::ffff:', '');

  function model(l: string, ip: string): string {
    const m = ruleSets.get(l)!.match(ip);
    if (m.decision === 'deny') return 'deny_rule';
    const now = ck.now();
    const o = [...open.values()];
    const scopes: Array<[string, (c: Conn) => boolean, FlowLimits, string]> = [
      ['listener_window', (c) => c.l === l, opts.listeners.find((x) => x.key === l)!.flow, 'listener'],
      ['service_window', () => true, opts.flow, 'service'],
    ];
    if (m.rule !== null) scopes.push(['rule_window', (c) => c.rule === m.rule!.id, m.rule.flow!, 'rule']);
    for (const [reason, inScope, f] of scopes) {
      const peer = (c: Conn): boolean => inScope(c) && c.ip === norm(ip);
      if (o.filter(inScope).length >= f.maxConnections) return `${reason}/maxConnections`;
      if (history.filter((c) => inScope(c) && c.t > now - f.timeIntervalMs).length >= f.maxIntervalConnections) return `${reason}/maxIntervalConnections`;
      if (o.filter(peer).length >= f.peerMaxConnections) return 'peer_window/peerMaxConnections';
      if (history.filter((c) => peer(c) && c.t > now - f.peerTimeIntervalMs).length >= f.peerMaxIntervalConnections) return 'peer_window/peerMaxIntervalConnections';
    }
    return 'ok';
  }

  const seen = new Set<string>();
  for (let step = 0; step < 10_000; step++) {
    if (rnd() < 0.3) ck.advance(Math.floor(rnd() * 40));
    const x = rnd();
    if (x < 0.55 || open.size === 0) {
      const l = rnd() < 0.6 ? L1 : L2;
      const ip = ips[Math.floor(rnd() * ips.length)]!;
      const want = model(l, ip);
      const r = a.admit(l, ip);
      const got = r.ok ? 'ok' : r.reason === 'deny_rule' ? 'deny_rule' : `${r.reason}/${r.option}`;
      assert.equal(got, want, `step ${step}: ${l} ${ip}`);
      seen.add(got);
      if (r.ok) {
        const m = ruleSets.get(l)!.match(ip);
        const c = { t: ck.now(), l, ip: norm(ip), rule: m.rule?.id ?? null };
        history.push(c);
        open.set(r.ticket, c);
      }
    } else if (x < 0.95) {
      const keys = [...open.keys()];
      const k = keys[Math.floor(rnd() * keys.length)]!;
      assert.equal(a.release(k), true);
      open.delete(k);
      released.push(k);
    } else if (released.length > 0) {
      assert.equal(a.release(released[Math.floor(rnd() * released.length)]!), false); // double release: no-op
    }
    if (step % 50 === 0 || step === 9_999) {
      const s = a.snapshot();
      assert.equal(s.service.open, open.size);
      for (const li of s.listeners) assert.equal(li.open, [...open.values()].filter((c) => c.l === li.key).length, li.key);
      for (const ru of s.rules) assert.equal(ru.open, [...open.values()].filter((c) => c.rule === ru.id).length, ru.id);
    }
    while (history.length > 0 && history[0]!.t <= ck.now() - 1000) history.shift(); // all windows are shorter
  }
  // the run exercised every kind of outcome
  for (const k of ['ok', 'deny_rule', 'listener_window/maxConnections', 'service_window/maxConnections', 'rule_window/maxConnections',
    'peer_window/peerMaxConnections', 'peer_window/peerMaxIntervalConnections']) assert.ok(seen.has(k), `never saw ${k}: ${[...seen]}`);
  for (const k of open.keys()) a.release(k);
  ck.advance(10_000);
  a.sweep();
  const end = a.snapshot();
  assert.equal(end.service.open, 0);
  assert.equal(end.service.trackedPeers, 0);
});

test('TripLogger: one warning per service + listener + option per interval', () => {
  const ck = clock();
  const logs: Array<{ obj: Record<string, unknown>; msg: string }> = [];
  const tl = new TripLogger({ warn: (obj, msg) => logs.push({ obj, msg }) }, 60_000, ck.now);
  const r: Refusal = { ok: false, reason: 'peer_window', option: 'peerMaxConnections', value: 2, scope: 'listener' };
  assert.equal(tl.trip('pop3', L1, r), true);
  for (let i = 0; i < 4; i++) assert.equal(tl.trip('pop3', L1, r), false);
  assert.equal(tl.trip('pop3', L2, r), true); // another listener
  assert.equal(tl.trip('pop3', L1, { ...r, option: 'peerMaxIntervalConnections', value: 5 }), true); // another option
  assert.equal(tl.trip('imap', L1, r), true); // another service
  ck.advance(59_999);
  assert.equal(tl.trip('pop3', L1, r), false);
  ck.advance(1);
  assert.equal(tl.trip('pop3', L1, r), true);
  assert.equal(logs.length, 5);
  assert.deepEqual(logs[0]!.obj, { service: 'pop3', listener: L1, reason: 'peer_window', scope: 'listener',
    option: 'peerMaxConnections', value: 2, suppressed: 0 });
  assert.match(logs[0]!.msg, /pop3.*127\.0\.0\.1:110.*peerMaxConnections = 2/);
  assert.equal(logs[4]!.obj.suppressed, 5);
});
