/**
 * test/net/rules.test.ts: rule matching: levels, priority, tie → deny, disabled rules, default allow.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileRules } from '../../src/net/rules.ts';
import type { RuleSource } from '../../src/net/rules.ts';
import { UNLIMITED } from '../../src/config/options.ts';
import type { AllowRuleOptions, DenyRuleOptions, FlowLimits } from '../../src/config/options.ts';
import { isPosternError } from '../../src/errors.ts';

const FREE: FlowLimits = {
  maxConnections: UNLIMITED, maxIntervalConnections: UNLIMITED, timeIntervalMs: 60_000,
  peerMaxConnections: UNLIMITED, peerMaxIntervalConnections: UNLIMITED, peerTimeIntervalMs: 60_000,
};
const allow = (ipSet: string, priority = 10, enable = true, flow: Partial<FlowLimits> = {}): AllowRuleOptions =>
  ({ ipSet, priority, enable, flow: { ...FREE, ...flow } });
const deny = (ipSet: string, priority = 10, enable = true): DenyRuleOptions => ({ ipSet, priority, enable });
const src = (allowRules: AllowRuleOptions[] = [], denyRules: DenyRuleOptions[] = []): RuleSource => ({ allowRules, denyRules });

function decide(rs: ReturnType<typeof compileRules>, ip: string): string {
  const m = rs.match(ip);
  return `${m.decision}:${m.rule?.id ?? 'default'}`;
}

test('within one level: priority, tie → deny, only-deny, only-allow, none', () => {
  const rs = compileRules({
    service: src(
      [allow('10.0.0.0/8', 5), allow('10.1.0.0/16', 20), allow('192.168.0.0/16', 7), allow('172.16.0.1', 3)],
      [deny('10.1.0.0/16', 6), deny('192.168.1.0/24', 7), deny('203.0.113.0/24', 50), deny('172.16.0.0/24', 3)],
    ),
  });
  const table: Array<[string, string]> = [
    ['10.2.3.4', 'allow:service:allow:0'], // only allow
    ['10.1.2.3', 'allow:service:allow:0'], // allow 5 beats deny 6
    ['192.168.1.9', 'deny:service:deny:1'], // tie 7/7: deny wins
    ['192.168.2.9', 'allow:service:allow:2'],
    ['203.0.113.9', 'deny:service:deny:2'], // only deny
    ['172.16.0.1', 'deny:service:deny:3'], // tie 3/3
    ['8.8.8.8', 'allow:default'],
    ['::ffff:203.0.113.9', 'deny:service:deny:2'],
  ];
  for (const [ip, want] of table) assert.equal(decide(rs, ip), want, ip);
});

test('lowest priority value wins among several rules of one kind; ties keep config order', () => {
  const rs = compileRules({
    global: src(
      [allow('10.0.0.0/8', 9), allow('10.0.0.0/16', 2), allow('10.0.0.0/24', 2)],
      [deny('10.0.0.0/8', 30), deny('10.0.0.0/16', 4)],
    ),
  });
  assert.equal(decide(rs, '10.0.0.1'), 'allow:global:allow:1');
  assert.equal(decide(rs, '10.0.1.1'), 'allow:global:allow:1');
  assert.equal(decide(rs, '10.9.0.1'), 'allow:global:allow:0'); // allow 9 < deny 30
  const d = compileRules({ global: src([allow('10.0.0.0/8', 5)], [deny('10.0.0.0/8', 8), deny('10.0.0.0/16', 1)]) });
  assert.equal(decide(d, '10.0.0.1'), 'deny:global:deny:1');
});

test('disabled rules are ignored', () => {
  const rs = compileRules({
    listener: { key: '127.0.0.1:110', ...src([allow('10.0.0.0/8', 1, false)], [deny('10.0.0.0/8', 1, false)]) },
    service: src([], [deny('10.0.0.0/8', 1, false)]),
  });
  assert.equal(decide(rs, '10.0.0.1'), 'allow:default');
  assert.equal(rs.rules.length, 3);
  assert.ok(rs.rules.every((r) => !r.enable));
});

test('levels: listener over service over global, else default allow', () => {
  const rs = compileRules({
    listener: { key: '127.0.0.1:110', ...src([allow('127.0.0.2', 100)], [deny('127.0.0.3', 100)]) },
    service: src([allow('127.0.0.0/8', 1, true, { maxConnections: 3 })], [deny('127.0.0.2', 1), deny('127.0.0.4', 1)]),
    global: src([allow('10.0.0.0/8', 1)], [deny('0.0.0.0/0', 1000), deny('127.0.0.5', 1)]),
  });
  const table: Array<[string, string]> = [
    // listener allow at priority 100 beats the service deny at priority 1: levels before priority
    ['127.0.0.2', 'allow:listener(127.0.0.1:110):allow:0'],
    ['127.0.0.3', 'deny:listener(127.0.0.1:110):deny:0'], // listener deny beats service allow
    ['127.0.0.4', 'deny:service:deny:1'], // service tie: deny
    ['127.0.0.5', 'allow:service:allow:0'], // service allow beats the global deny
    ['10.1.1.1', 'allow:global:allow:0'],
    ['8.8.8.8', 'deny:global:deny:0'],
  ];
  for (const [ip, want] of table) assert.equal(decide(rs, ip), want, ip);
  const m = rs.match('127.0.0.5');
  assert.equal(m.rule?.flow?.maxConnections, 3);
  assert.equal(m.rule?.level, 'service');
  assert.equal(rs.match('127.0.0.3').rule?.flow, null);
  assert.equal(rs.match('127.0.0.2').rule?.listener, '127.0.0.1:110');
  assert.deepEqual(rs.rules.map((r) => r.id), [
    'listener(127.0.0.1:110):allow:0', 'listener(127.0.0.1:110):deny:0', 'service:allow:0', 'service:deny:0',
    'service:deny:1', 'global:allow:0', 'global:deny:0', 'global:deny:1',
  ]);
});

test('no rules at all: default allow for IPv4 and IPv6', () => {
  const rs = compileRules({});
  assert.deepEqual(rs.match('1.2.3.4'), { decision: 'allow', rule: null });
  assert.deepEqual(rs.match('2001:db8::1'), { decision: 'allow', rule: null });
});

test('IPv6 rules and mapped addresses', () => {
  const rs = compileRules({ service: src([allow('2001:db8::/32', 1)], [deny('::/0', 2), deny('10.0.0.0/8', 1)]) });
  assert.equal(decide(rs, '2001:db8::5'), 'allow:service:allow:0');
  assert.equal(decide(rs, '2001:db9::5'), 'deny:service:deny:0');
  assert.equal(decide(rs, '::ffff:10.0.0.1'), 'deny:service:deny:1');
});

test('bad IP set throws CONFIG_TYPE naming the rule; bad address throws', () => {
  assert.throws(() => compileRules({ service: src([], [deny('10.0.0.0/8'), deny('bogus', 1, false)]) }),
    (e: unknown) => isPosternError(e, 'CONFIG_TYPE') && e.details?.rule === 'service:deny:1');
  const rs = compileRules({});
  assert.throws(() => rs.match('nope'), (e: unknown) => isPosternError(e, 'CONFIG_TYPE'));
});

test('UDP allow rules without flow compile with flow null', () => {
  const rs = compileRules({ service: { allowRules: [deny('10.0.0.0/8')], denyRules: [] } });
  const m = rs.match('10.0.0.1');
  assert.equal(m.decision, 'allow');
  assert.equal(m.rule?.flow, null);
});
