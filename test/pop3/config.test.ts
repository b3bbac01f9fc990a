/**
 * POP3's configuration: its attributes by their seed names with finite defaults, the
 * Server-level pop3ExclusiveLock (the seed's SERVER context) reaching the pop3 service, the
 * auth-type choices, and what the protocol module makes of them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../src/config/load.ts';
import { isPosternError } from '../../src/errors.ts';
import { pop3Options } from '../../src/protocols/pop3/options.ts';
import { mechanismsFor, plainLoginAllowed } from '../../src/auth/policy.ts';

test('defaults: every POP3 limit is finite; digestMd5/gssapi are not on by default', () => {
  const { resolved } = loadConfig('Server { services = (pop3) }', 't');
  const x = resolved.serviceOptions.pop3.session;
  const p = pop3Options(resolved.serviceOptions.pop3);
  assert.equal(p.exclusiveLock, false);
  assert.equal(p.plainConnAllowLogin, true);
  assert.deepEqual(p.plainConnAuthTypes, ['plain', 'login', 'cramMd5', 'scramSha256']);
  assert.equal(x.authFailureDelayMs, 1000);
  assert.equal(x.authFailureMaxDelayMs, 16_000);
  assert.equal(x.authFailureWindowMs, 300_000);
  assert.equal(x.authFailureTrackedIps, 10_000);
  assert.equal(p.authCacheSize, 10_000);
  assert.equal(p.authCacheTtlMs, 3_600_000);
  const s = resolved.serviceOptions.pop3;
  assert.equal(s.maxErrors, 10);
  assert.equal(s.maxAuthErrors, 3);
  assert.equal(s.listeners[0]!.idleTimeoutMs, 600_000);
  for (const v of [s.maxErrors, s.maxAuthErrors, x.maxLineLength, s.listeners[0]!.flow.maxConnections, s.listeners[0]!.flow.peerMaxConnections]) assert.ok(Number.isFinite(v));
  const o = pop3Options(s);
  assert.deepEqual(mechanismsFor(o, false), ['PLAIN', 'LOGIN', 'CRAM-MD5', 'SCRAM-SHA-256']);
  assert.equal(o.greetingsText, `${s.hostname} Postern POP3 server ready`);
});

test('pop3ExclusiveLock is a Server attribute and reaches the pop3 service', () => {
  const { resolved } = loadConfig('Server { pop3ExclusiveLock = yes }', 't');
  assert.equal(pop3Options(resolved.serviceOptions.pop3).exclusiveLock, true);
  assert.throws(() => loadConfig('Server { pop3 = { pop3ExclusiveLock = yes } }', 't'), (e) => isPosternError(e, 'CONFIG_UNKNOWN_ATTRIBUTE'));
});

test('per-connection login policy and auth types', () => {
  const { resolved } = loadConfig(`Server { pop3 = {
    plainConnAllowLogin = no secureConnAllowLogin = yes
    plainConnAuthTypes = (CRAMMD5 digestMd5 gssapi) secureConnAuthTypes = (plain)
    greetingsText = "Hi there"
  } }`, 't');
  const o = pop3Options(resolved.serviceOptions.pop3);
  assert.equal(plainLoginAllowed(o, false), false);
  assert.equal(plainLoginAllowed(o, true), true);
  assert.deepEqual(mechanismsFor(o, false), ['CRAM-MD5'], 'digestMd5 and gssapi are accepted but never offered');
  assert.deepEqual(mechanismsFor(o, true), ['PLAIN']);
  assert.equal(o.greetingsText, 'Hi there');
  assert.throws(() => loadConfig('Server { pop3 = { plainConnAuthTypes = (ntlm) } }', 't'), (e) => isPosternError(e, 'CONFIG_TYPE'));
});
