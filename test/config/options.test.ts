/**
 * test/config/options.test.ts: each service's options are resolved once, by the config, into
 * typed, frozen, unit-named fields (`ServiceOptions.session` and `.protocol`, config/options.ts),
 * from its row in SERVICE_TABLE; a 0 in the file is spelled `UNLIMITED` where it lifts a limit,
 * `OFF` where it turns a mechanism off, and stays 0 elsewhere; every attribute of a row must be
 * read by its kind's resolver; protocol accessors hand out the resolved object, not a copy.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../src/config/load.ts';
import { OFF, UNLIMITED, optionsOf } from '../../src/config/options.ts';
import { defineService, registerServices, SERVICE_TABLE } from '../../src/config/schema.ts';
import { isPosternError } from '../../src/errors.ts';
import { pop3Options } from '../../src/protocols/pop3/options.ts';
import { retryPolicy } from '../../src/processing/index.ts';

const load = (text: string) => loadConfig(`Server { ${text} }`, 't').resolved;

test('every row resolves to its kind of protocol options, typed and frozen; non-TCP services carry the session defaults', () => {
  const r = load('');
  for (const row of SERVICE_TABLE) {
    const s = r.serviceOptions[row.name];
    assert.equal(s.protocol.kind, row.optionsKind, row.name);
    assert.ok(Object.isFrozen(s.protocol) && Object.isFrozen(s.session), row.name);
    assert.equal('extra' in s, false, 'no untyped bag');
  }
  assert.deepEqual(r.serviceOptions.processing.session, r.serviceOptions.cli.session);
  assert.equal(r.serviceOptions.imap.session.maxLineLength, 65536, 'IMAP overrides maxLineLength (long UID sets)');
  assert.equal(r.serviceOptions.log.session.maxLineLength, 8192);
  assert.equal(r.serviceOptions.smtpIncoming.session.maxLineLength, 2048, 'the row overrides a TCP attribute');
  assert.equal(pop3Options(r.serviceOptions.pop3), r.serviceOptions.pop3.protocol, 'the accessor hands out the resolved object');
});

test('units: seconds → …Ms, KB → …Bytes (and KB/s → …BytesPerSec), under their unit-named fields', () => {
  const r = load(`
    pop3 = { authCacheTtl = 2 commandTimeout = 3 maxPendingOutput = 96 minDataRate = 5 dataRateWindow = 6 stressTimeout = 7
             authFailureDelay = 2 authFailureMaxDelay = 9 authFailureWindow = 11 authBanTime = 12 }
    smtpIncoming = { maxDataSize = 8 }
    ftpBackup = { dataTimeout = 4 maxUploadSize = 3 }
    processing = { schedInterval = 10 maxSchedInterval = 20 poolMessageSize = 2 deliveryThreads = 3 maxRetryCount = 5 delayNoticeAfter = 6 maxBounceReturnSize = 8 }`);
  const p = optionsOf(r.serviceOptions.pop3, 'pop3');
  const s = r.serviceOptions.pop3.session;
  assert.equal(p.authCacheTtlMs, 2000);
  assert.deepEqual(
    [s.commandTimeoutMs, s.maxPendingOutputBytes, s.minDataRateBytesPerSec, s.dataRateWindowMs, s.stressTimeoutMs, s.authFailureDelayMs, s.authFailureMaxDelayMs, s.authFailureWindowMs, s.authBanTimeMs],
    [3000, 96 * 1024, 5 * 1024, 6000, 7000, 2000, 9000, 11_000, 12_000],
  );
  assert.equal(optionsOf(r.serviceOptions.smtpIncoming, 'smtpIncoming').maxMessageBytes, 8 * 1024);
  const f = optionsOf(r.serviceOptions.ftpBackup, 'ftpBackup');
  assert.deepEqual([f.dataTimeoutMs, f.maxUploadBytes], [4000, 3 * 1024]);
  const q = optionsOf(r.serviceOptions.processing, 'processing');
  assert.deepEqual([q.schedIntervalMs, q.maxSchedIntervalMs, q.poolMessageBytes, q.deliveryThreads, q.maxRetryCount], [10_000, 20_000, 2048, 3, 5]);
  assert.deepEqual(retryPolicy(r.serviceOptions.processing), { baseMs: 10_000, maxMs: 20_000, maxRetries: 5, delayNoticeAfter: 6, maxReturnBytes: 8 * 1024 });
});

test('a 0 in the file: UNLIMITED lifts a limit, OFF turns a mechanism off, else it stays 0', () => {
  const r = load(`
    pop3 = { maxErrors = 0 maxAuthErrors = 0 authBanThreshold = 0 minDataRate = 0 authFailureDelay = 0 authCacheSize = 0 minPoolThreads = 0 maxPoolThreads = 3 }
    processing = { maxRetryCount = 0 poolMessageSize = 0 }`);
  const pop3 = r.serviceOptions.pop3;
  assert.equal(pop3.maxErrors, UNLIMITED);
  assert.equal(pop3.maxAuthErrors, UNLIMITED);
  assert.equal(pop3.session.authBanThreshold, UNLIMITED);
  assert.equal(pop3.session.minDataRateBytesPerSec, OFF);
  assert.equal(pop3.session.authFailureDelayMs, OFF);
  assert.equal(optionsOf(pop3, 'pop3').authCacheSize, OFF);
  assert.deepEqual([pop3.minPoolThreads, pop3.maxPoolThreads], [0, 3]);
  const q = optionsOf(r.serviceOptions.processing, 'processing');
  assert.deepEqual([q.maxRetryCount, q.poolMessageBytes], [0, 0]);
});

test('optionsOf another protocol\'s options is a programming error (INTERNAL)', () => {
  const r = load('');
  assert.throws(() => optionsOf(r.serviceOptions.pop3, 'smtpIncoming'), (e) => isPosternError(e, 'INTERNAL'));
  assert.throws(() => pop3Options(r.serviceOptions.ftpBackup), (e) => isPosternError(e, 'INTERNAL'));
});

test('a row whose attributes its resolver never reads cannot be loaded (INTERNAL names them)', () => {
  registerServices([defineService('testUnread', 'worker', 'test: an option nobody reads', { options: { frobnicate: { type: 'uint', default: 1 } } })]);
  assert.throws(() => load(''), (e) => isPosternError(e, 'INTERNAL') && /testUnread.*frobnicate/.test(e.message));
});
