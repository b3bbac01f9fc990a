/**
 * IMAP's configuration: its attributes by their seed names with finite defaults, the
 * Postern limits in their units, the checks between them, and the capability lists the
 * protocol module builds from them (before login per connection kind, after login).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig, loadDefault } from '../../src/config/load.ts';
import { isPosternError } from '../../src/errors.ts';
import { imapOptions, postLoginCapabilities, preLoginCapabilities } from '../../src/protocols/imap/options.ts';
import { mechanismsFor, plainLoginAllowed } from '../../src/auth/policy.ts';

test('defaults: the imap service runs in the embedded default; every IMAP limit is finite', () => {
  const { resolved } = loadDefault();
  assert.ok(resolved.services.includes('imap'));
  const s = resolved.serviceOptions.imap;
  assert.equal(s.listeners[0]!.key, '127.0.0.1:1143');
  assert.equal(s.listeners[0]!.idleTimeoutMs, 1_800_000);
  const o = imapOptions(s);
  assert.equal(o.plainConnAllowLogin, true);
  assert.equal(o.secureConnAllowLogin, true);
  assert.equal(o.allowStartTLS, true);
  assert.equal(o.imapIdEnabled, true);
  assert.equal(o.imapShowAllFolders, false);
  assert.deepEqual(o.plainConnAuthTypes, ['plain', 'login', 'cramMd5', 'scramSha256']);
  assert.equal(o.maxLiteralBytes, 51200 * 1024);
  assert.equal(o.maxCommandBytes, 65536 * 1024);
  assert.equal(o.maxLiterals, 100);
  assert.equal(o.nonSyncLiterals, 'plus');
  assert.equal(o.maxNesting, 64);
  assert.equal(s.session.maxLineLength, 65536);
  assert.equal(o.maxListItems, 10_000);
  assert.equal(o.authCacheSize, 10_000);
  assert.equal(o.authCacheTtlMs, 3_600_000);
  assert.equal(o.greetingsText, `${s.hostname} Postern IMAP4rev2 server ready`);
  for (const v of [s.maxErrors, s.maxAuthErrors, s.session.maxLineLength, o.maxLiteralBytes, o.maxCommandBytes, o.maxLiterals]) assert.ok(Number.isFinite(v));
});

test('per-connection login policy, auth types and the capability strings', () => {
  const { resolved } = loadConfig(`Server { imap = {
    plainConnAllowLogin = no secureConnAllowLogin = yes
    plainConnAuthTypes = (cramMd5 digestMd5 gssapi) secureConnAuthTypes = (plain scramSha256)
    greetingsText = "Hi there" imapIdEnabled = no nonSyncLiterals = MINUS maxLiteralSize = 10
    maxCommandSize = 20
  } }`, 't');
  const o = imapOptions(resolved.serviceOptions.imap);
  assert.equal(plainLoginAllowed(o, false), false);
  assert.equal(plainLoginAllowed(o, true), true);
  assert.deepEqual(mechanismsFor(o, false), ['CRAM-MD5'], 'digestMd5 and gssapi are accepted but never offered');
  assert.deepEqual(mechanismsFor(o, true), ['PLAIN', 'SCRAM-SHA-256']);
  assert.equal(o.greetingsText, 'Hi there');
  assert.equal(preLoginCapabilities(o, false, true), 'IMAP4rev1 IMAP4rev2 LITERAL- SASL-IR ENABLE STARTTLS AUTH=CRAM-MD5 LOGINDISABLED');
  assert.equal(preLoginCapabilities(o, true, true), 'IMAP4rev1 IMAP4rev2 LITERAL- SASL-IR ENABLE AUTH=PLAIN AUTH=SCRAM-SHA-256');
  const post = postLoginCapabilities(o).split(' ');
  assert.ok(post.includes('APPENDLIMIT=10240'));
  assert.ok(post.includes('LITERAL-'));
  assert.ok(!post.includes('ID'));
  for (const c of ['IDLE', 'UIDPLUS', 'MOVE', 'CONDSTORE', 'QRESYNC', 'SPECIAL-USE', 'LIST-EXTENDED', 'LIST-STATUS', 'ESEARCH', 'SEARCHRES', 'NAMESPACE', 'UNSELECT', 'CHILDREN', 'STATUS=SIZE', 'BINARY', 'UTF8=ACCEPT', 'QUOTA', 'QUOTA=RES-STORAGE', 'QUOTA=RES-MESSAGE', 'SORT', 'THREAD=REFERENCES', 'MULTIAPPEND', 'COMPRESS=DEFLATE', 'ENABLE']) {
    assert.ok(post.includes(c), c);
  }
});

test('bad values are refused: an unknown auth type, an unknown literal mode, maxCommandSize below maxLiteralSize', () => {
  assert.throws(() => loadConfig('Server { imap = { plainConnAuthTypes = (ntlm) } }', 't'), (e) => isPosternError(e, 'CONFIG_TYPE'));
  assert.throws(() => loadConfig('Server { imap = { nonSyncLiterals = both } }', 't'), (e) => isPosternError(e, 'CONFIG_TYPE'));
  assert.throws(() => loadConfig('Server { imap = { maxLiteralSize = 100 maxCommandSize = 50 } }', 't'), (e) => isPosternError(e) && /maxCommandSize/.test(e.message));
  assert.throws(() => loadConfig('Server { imap = { maxLiterals = 0 } }', 't'), (e) => isPosternError(e));
});
