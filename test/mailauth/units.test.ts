/**
 * test/mailauth/units.test.ts: the pure parts of protocols/smtp/mailauth.ts: which
 * Authentication-Results fields are removed (RFC 8601 §5: those naming our authserv-id, folded
 * or not, any case, with a version, with comments), what each DMARC outcome leads to, and the
 * per-domain policy mode lookup (most specific domain first).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dmarcAction, policyModeFor, stripOurResults, type MailAuthResult } from '../../src/protocols/smtp/mailauth.ts';

const msg = (head: string[]): Buffer => Buffer.from(`${head.join('\r\n')}\r\n\r\nAuthentication-Results: mx.example.org; body line\r\n`, 'latin1');

test('stripOurResults removes only the fields naming our authserv-id, never the body', () => {
  const table: Array<[string[], string[]]> = [
    [['From: a@b', 'Subject: x'], ['From: a@b', 'Subject: x']],
    [['Authentication-Results: mx.example.org; spf=pass', 'From: a@b'], ['From: a@b']],
    [['authentication-results:MX.Example.ORG 1; dkim=pass', 'From: a@b'], ['From: a@b']],
    [['Authentication-Results: (comment) mx.example.org;', '\tdkim=pass header.d=x', ' spf=pass', 'From: a@b'], ['From: a@b']],
    [['Authentication-Results:', ' mx.example.org; dkim=pass', 'From: a@b'], ['From: a@b']],
    [['Authentication-Results: other.example; dkim=pass', 'Authentication-Results: mx.example.org; none', 'From: a@b'], ['Authentication-Results: other.example; dkim=pass', 'From: a@b']],
    [['Authentication-Results: mx.example.org.evil; dkim=pass', 'From: a@b'], ['Authentication-Results: mx.example.org.evil; dkim=pass', 'From: a@b']],
    [['X-Authentication-Results: mx.example.org; dkim=pass', 'From: a@b'], ['X-Authentication-Results: mx.example.org; dkim=pass', 'From: a@b']],
  ];
  for (const [input, expected] of table) {
    const out = stripOurResults(msg(input), 'mx.example.org').toString('latin1');
    assert.equal(out, msg(expected).toString('latin1'), input.join(' | '));
  }
  const same = msg(['From: a@b']);
  assert.equal(stripOurResults(same, 'mx.example.org'), same, 'nothing removed: the same buffer');
});

const result = (dmarc: string, policy: MailAuthResult['policy']): MailAuthResult =>
  ({ headers: '', spf: 'fail', dkim: 'none', dmarc, arc: 'none', fromDomain: 'x.test', policy, timedOut: false });

test('dmarcAction: enforce refuses p=reject failures and quarantines p=quarantine ones; everything else is accepted', () => {
  assert.equal(dmarcAction(result('fail', 'reject'), 'enforce'), 'reject');
  assert.equal(dmarcAction(result('fail', 'quarantine'), 'enforce'), 'junk');
  assert.equal(dmarcAction(result('fail', 'none'), 'enforce'), 'accept');
  assert.equal(dmarcAction(result('fail', 'reject'), 'monitor'), 'accept');
  for (const r of ['pass', 'none', 'temperror', 'permerror']) assert.equal(dmarcAction(result(r, 'reject'), 'enforce'), 'accept', r);
});

test('policyModeFor: the most specific rule for the domain or a parent, else the service-wide mode', () => {
  const rules = new Map<string, 'enforce' | 'monitor'>([['example.com', 'monitor'], ['strict.example.com', 'enforce']]);
  assert.equal(policyModeFor('example.com', rules, 'enforce'), 'monitor');
  assert.equal(policyModeFor('Mail.Example.com.', rules, 'enforce'), 'monitor');
  assert.equal(policyModeFor('a.strict.example.com', rules, 'monitor'), 'enforce');
  assert.equal(policyModeFor('notexample.com', rules, 'enforce'), 'enforce');
  assert.equal(policyModeFor(null, rules, 'monitor'), 'monitor');
});
