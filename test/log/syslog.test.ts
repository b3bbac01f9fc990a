/**
 * test/log/syslog.test.ts: the wire format (src/net/syslog.ts) and the services' sender
 * (src/net/log-sink.ts) as units: levels written as words and as the seed's bitmask, RFC 5424
 * written and read back, RFC 3164 read, garbage refused, and the sender's bounded queue:
 * records beyond logQueueSize are dropped and counted, never waited for.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatSyslog, levelMask, minPinoLevel, moduleOf, parseSyslog } from '../../src/net/syslog.ts';
import { LogSink, lineToRecord } from '../../src/net/log-sink.ts';
import { loadConfig } from '../../src/config/load.ts';
import { udpCollector } from './helpers.ts';
import { waitFor } from '../helpers.ts';

test('logLevel: a word is that level and every more severe one; a number is the seed bitmask', () => {
  assert.equal(levelMask('critical'), 1);
  assert.equal(levelMask('warning'), 7);
  assert.equal(levelMask('Info'), 15);
  assert.equal(levelMask('protocol'), 31);
  assert.equal(levelMask('15'), 15);
  assert.equal(levelMask('16'), 16);
  assert.equal(levelMask('0'), 0);
  assert.equal(minPinoLevel(7), 40);
  assert.equal(minPinoLevel(16), 10);
  assert.equal(minPinoLevel(0), Infinity);
});

test('config: logLevel, logType, logHost, logQueueSize on any service; defaults warning + internal', () => {
  const c = loadConfig(`Server { services = (pop3 log) pop3 = { logLevel = 15 logType = remote logHost = 10.0.0.9:2000 logQueueSize = 7 }
    imap = { logLevel = ERROR logType = system }
    log = { listeners = ( { address = 0.0.0.0:2999 } ) } }`, 'test').resolved;
  const p = c.serviceOptions.pop3.logging!;
  assert.deepEqual(p, { levels: 15, type: 'remote', target: { host: '10.0.0.9', port: 2000, family: 4 }, queueSize: 7 });
  assert.deepEqual(c.serviceOptions.imap.logging, { levels: 3, type: 'system', target: { host: '127.0.0.1', port: 514, family: 4 }, queueSize: 1000 });
  // internal: the Log service's first listener (a wildcard address is reached on loopback)
  assert.deepEqual(c.serviceOptions.smtpIncoming.logging, { levels: 7, type: 'internal', target: { host: '127.0.0.1', port: 2999, family: 4 }, queueSize: 1000 });
  // the Log service not running: internal records are only kept (log.tail)
  assert.equal(loadConfig('Server { services = (pop3) }', 'test').resolved.serviceOptions.pop3.logging!.target, null);
  assert.throws(() => loadConfig('Server { pop3 = { logLevel = loud } }', 'test'), /logLevel/);
  assert.throws(() => loadConfig('Server { pop3 = { logLevel = 32 } }', 'test'), /logLevel/);
  assert.throws(() => loadConfig('Server { pop3 = { logType = file } }', 'test'), /logType/);
  const log = c.serviceOptions.log.protocol;
  assert.equal(log.kind, 'log');
  if (log.kind === 'log') {
    assert.equal(log.rules.length, 1);
    assert.equal(log.rules[0]!.fileName, 'everything.txt');
    assert.equal(log.maxRecordBytes, 8192);
    assert.equal(log.writeBufferBytes, 1024 * 1024);
  }
});

test('RFC 5424: written with facility mail and the module as MSGID, read back', () => {
  const r = { time: Date.UTC(2026, 11, 6, 12, 0, 1), level: 'warning' as const, hostname: 'mx.example', module: 'SMTP-IN', msg: 'line\nbreak ünïcode' };
  const b = formatSyslog(r, { procid: 42 });
  assert.equal(b.toString('utf8'), '<20>1 2026-12-06T12:00:01.000Z mx.example postern 42 SMTP-IN - line break ünïcode');
  assert.deepEqual(parseSyslog(b), { ...r, msg: 'line break ünïcode' });
  assert.ok(formatSyslog({ ...r, msg: 'x'.repeat(5000) }, { maxBytes: 300 }).length <= 300);
});

test('RFC 5424 with structured data and RFC 3164 (logger) are read; garbage is not', () => {
  const a = parseSyslog(Buffer.from('<20>1 2026-12-06T12:32:52.888024+00:00 vm mytag - - [timeQuality tzKnown="1" isSynced="0"] hello 5424'))!;
  assert.equal(a.module, 'mytag');
  assert.equal(a.hostname, 'vm');
  assert.equal(a.level, 'warning');
  assert.equal(a.msg, 'hello 5424');
  assert.equal(a.time, Date.parse('2026-12-06T12:32:52.888Z'));
  const b = parseSyslog(Buffer.from('<11>1 - - app - - [a b="x\\]y"][c] msg'), 1000, '10.0.0.1')!;
  assert.deepEqual(b, { time: 1000, level: 'error', hostname: '10.0.0.1', module: 'app', msg: 'msg' });
  const c = parseSyslog(Buffer.from('<13>Dec  6 12:32:54 vm other[2525]: hello pid'), Date.UTC(2026, 11, 6, 13))!;
  assert.equal(c.module, 'other');
  assert.equal(c.hostname, 'vm');
  assert.equal(c.level, 'info');
  assert.equal(c.msg, 'hello pid');
  const d = parseSyslog(Buffer.from('<10>just a message'), 5, 'peer')!;
  assert.deepEqual(d, { time: 5, level: 'critical', hostname: 'peer', module: '-', msg: 'just a message' });
  assert.equal(parseSyslog(Buffer.from('hello')), null);
  assert.equal(parseSyslog(Buffer.from('<999>1 - - - - - - x')), null);
  assert.equal(parseSyslog(Buffer.from('<13>1 broken')), null);
});

test('modules: the seed names by service', () => {
  assert.deepEqual(['smtpIncoming', 'smtpOutgoing', 'pop3Proxy', 'report', 'ftpBackup', 'webmailProxy', undefined].map(moduleOf), ['SMTP-IN', 'SMTP-OUT', 'PROXY_POP3', 'REPORTING', 'FTP-BACKUP', 'PROXY_WEBMAIL', 'SERVER']);
  const r = lineToRecord('{"level":50,"time":7,"pid":1,"service":"imap","actor":"imap.t1","err":{"type":"Error","message":"boom","stack":"long"},"msg":"failed"}', 'h')!;
  assert.deepEqual(r, { time: 7, level: 'error', hostname: 'h', module: 'IMAP', msg: 'failed {"err":{"type":"Error","message":"boom"}}', service: 'imap' });
});

test('the sender never waits: past logQueueSize datagrams in flight, records are dropped and counted', async () => {
  const peer = await udpCollector();
  let drops = 0;
  const sink = new LogSink({
    hostname: () => 'h',
    route: () => ({ mask: 31, target: { host: '127.0.0.1', port: peer.port, family: 4 }, type: 'internal' }),
    queueSize: () => 2,
    onDrop: () => drops++,
  });
  try {
    for (let i = 0; i < 50; i++) sink.write(`{"level":30,"time":${i},"service":"pop3","msg":"burst ${i}"}`);
    assert.equal(sink.dropped, 48);
    assert.equal(drops, 48);
    await waitFor(() => peer.datagrams.length === 2, 5000, 'the two datagrams');
    assert.match(peer.datagrams[0]!.toString(), /^<22>1 \S+ h postern \d+ POP3 - burst 0$/);
    // the queue drains: the next record is sent
    await waitFor(() => sink.sent === 2, 5000, 'the sends to complete');
    sink.write('{"level":40,"time":99,"service":"pop3","msg":"after"}');
    await waitFor(() => peer.datagrams.length === 3, 5000, 'the third datagram');
    // levels outside the mask are neither sent nor kept
    const quiet = new LogSink({ hostname: () => 'h', route: () => ({ mask: 7, target: null, type: 'internal' }), queueSize: () => 1 });
    quiet.write('{"level":30,"time":1,"msg":"info"}');
    quiet.write('{"level":50,"time":2,"msg":"error"}');
    assert.deepEqual(quiet.tail({ lines: 10 }).map((r) => r.msg), ['error']);
  } finally {
    sink.close();
    peer.close();
  }
});
