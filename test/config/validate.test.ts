/**
 * test/config/validate.test.ts: validate() and resolve() through loadConfig: the seed-style
 * example, the embedded default, defaults and units, and one test per validation error kind
 * asserting code, line, column and path.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig, loadConfigFile, loadDefault } from '../../src/config/load.ts';
import { UNLIMITED } from '../../src/config/options.ts';
import { SERVICE_NAMES, SERVICE_TABLE } from '../../src/config/schema.ts';
import type { PosternError } from '../../src/errors.ts';
import { EXAMPLE, catchError } from './fixtures.ts';

const load = (body: string) => loadConfig(`Server {\n${body}\n}\n`);
/** Error from a `Server { … }` whose body starts on line 2. */
const fail = (body: string): PosternError => catchError(() => load(body));

function assertIssue(e: PosternError, code: string, line: number, column: number, path: string): void {
  assert.equal(e.code, code, e.message);
  assert.deepEqual([e.details?.['line'], e.details?.['column'], e.details?.['path']], [line, column, path], e.message);
  assert.ok(e.message.startsWith(`line ${line}, column ${column}: ${path}: `), e.message);
}

test('the seed-style example loads and resolves', () => {
  const { resolved } = loadConfig(EXAMPLE);
  assert.deepEqual(resolved.services, ['pop3', 'smtpIncoming', 'processing']);
  assert.equal(resolved.primaryDomain, 'example.org');
  assert.deepEqual(resolved.statusListener, { host: '127.0.0.1', port: 9100, family: 4 });
  const pop3 = resolved.serviceOptions.pop3;
  assert.equal(pop3.transport, 'tcp');
  assert.equal(pop3.listeners.length, 1);
  const l = pop3.listeners[0]!;
  assert.equal(l.key, '127.0.0.1:1110');
  assert.deepEqual(l.address, { host: '127.0.0.1', port: 1110, family: 4 });
  assert.equal(l.enable, true);
  assert.equal(l.idleTimeoutMs, 600_000);
  assert.deepEqual(l.flow, {
    maxConnections: 1000, maxIntervalConnections: 600, timeIntervalMs: 60_000,
    peerMaxConnections: 20, peerMaxIntervalConnections: 60, peerTimeIntervalMs: 60_000,
  });
  assert.equal(pop3.allowRules.length, 1);
  assert.deepEqual(pop3.allowRules[0], {
    ipSet: '127.0.0.0/8', enable: true, priority: 10,
    flow: {
      maxConnections: UNLIMITED, maxIntervalConnections: UNLIMITED, timeIntervalMs: 60_000,
      peerMaxConnections: 50, peerMaxIntervalConnections: UNLIMITED, peerTimeIntervalMs: 60_000,
    },
  });
  assert.deepEqual(pop3.denyRules, [{ ipSet: '10.0.0.1-10.0.0.20', enable: true, priority: 5 }]);
  assert.equal(pop3.maxErrors, 10);
  assert.equal(pop3.maxAuthErrors, 3);
  assert.equal(pop3.minConnThreads, 1);
  assert.equal(pop3.maxConnThreads, 4);
  assert.equal(pop3.session.maxLineLength, 8192);
});

test('resolved config is deep-frozen and names every service', () => {
  const { resolved } = loadConfig(EXAMPLE);
  assert.deepEqual(Object.keys(resolved.serviceOptions).sort(), [...SERVICE_NAMES].sort());
  assert.ok(Object.isFrozen(resolved));
  assert.ok(Object.isFrozen(resolved.serviceOptions.pop3.listeners[0]!.flow));
  assert.ok(Object.isFrozen(resolved.serviceOptions.pop3.session));
  assert.ok(Object.isFrozen(resolved.serviceOptions.pop3.protocol));
  assert.ok(Object.isFrozen(resolved.serviceOptions.smtpIncoming.protocol.kind === 'smtpIncoming' && resolved.serviceOptions.smtpIncoming.protocol.relayNetworks));
});

test('the embedded default loads with the documented listeners', () => {
  const { resolved } = loadDefault();
  // the rows marked embedded, in table order (smtpIncoming … webmail, then the operators' tools as they land)
  assert.deepEqual(resolved.services, SERVICE_TABLE.filter((r) => r.embedded).map((r) => r.name));
  for (const n of ['smtpIncoming', 'processing', 'smtpOutgoing', 'pop3', 'imap', 'webmail', 'webadmin', 'cli', 'log', 'ftpBackup']) assert.ok(resolved.services.includes(n as never), n);
  assert.equal(resolved.statusListener.port, 9100);
  const expected: Record<string, string> = {
    smtpIncoming: '127.0.0.1:2525', pop3: '127.0.0.1:1110', imap: '127.0.0.1:1143', ftpBackup: '127.0.0.1:2121',
    webmail: '127.0.0.1:8080', webadmin: '127.0.0.1:9000', cli: '127.0.0.1:7000', pop3Proxy: '127.0.0.1:8110',
    imapProxy: '127.0.0.1:8143', webmailProxy: '127.0.0.1:8800',
  };
  for (const [name, key] of Object.entries(expected)) {
    const s = resolved.serviceOptions[name as keyof typeof resolved.serviceOptions];
    assert.deepEqual(s.listeners.map((l) => l.key), [key], name);
  }
  assert.deepEqual(resolved.serviceOptions.log.udpListeners.map((l) => l.key), ['127.0.0.1:2000']);
  assert.deepEqual(resolved.serviceOptions.report.udpListeners.map((l) => l.key), ['127.0.0.1:2001']);
  assert.equal(resolved.serviceOptions.processing.transport, 'none');
});

test('a service without a block gets its default listener and defaults', () => {
  const { resolved } = load('');
  const imap = resolved.serviceOptions.imap;
  assert.equal(imap.listeners[0]!.key, '127.0.0.1:1143');
  assert.equal(imap.listeners[0]!.idleTimeoutMs, 1_800_000);
  assert.deepEqual(imap.listeners[0]!.flow, {
    maxConnections: 1000, maxIntervalConnections: 6000, timeIntervalMs: 60_000,
    peerMaxConnections: 100, peerMaxIntervalConnections: 1200, peerTimeIntervalMs: 60_000,
  });
  assert.deepEqual(imap.listeners[0]!.ssl.allowedVersions, ['tls1_2', 'tls1_3']);
  assert.equal(imap.flow.maxConnections, UNLIMITED);
  assert.deepEqual([imap.maxErrors, imap.maxAuthErrors, imap.minConnThreads, imap.maxConnThreads], [10, 3, 1, 2]);
  assert.deepEqual([imap.threadSessions, imap.threadIdleTimeoutMs, imap.connThreadHeapBytes], [500, 30_000, 262144 * 1024]);
  assert.deepEqual([imap.minPoolThreads, imap.maxPoolThreads], [0, 2]);
  assert.equal(resolved.serviceOptions.ftpBackup.listeners[0]!.idleTimeoutMs, 900_000);
  assert.equal(resolved.primaryDomain, 'localdomain');
  assert.equal(resolved.logLevel, 'info');
  assert.equal(resolved.dataDir, null);
  assert.equal(resolved.enableFaultInjection, false);
  assert.equal(resolved.shutdownTimeoutMs, 30_000);
});

test('listeners = () means no listeners, not the default', () => {
  assert.deepEqual(load('pop3 = { listeners = () }').resolved.serviceOptions.pop3.listeners, []);
});

test('smtp in services expands to smtpIncoming, smtpOutgoing, processing without duplicates', () => {
  const { resolved, model } = load('services = (smtp pop3 processing smtpIncoming)');
  assert.deepEqual(resolved.services, ['smtpIncoming', 'smtpOutgoing', 'processing', 'pop3']);
  assert.deepEqual(model['services'], ['smtp', 'pop3', 'processing', 'smtpIncoming']);
});

test('attribute names and choice words are case-insensitive, normalised to the schema spelling', () => {
  const { model, resolved } = loadConfig('SERVER { LOGLEVEL = DEBUG Services = (POP3 Smtp) pop3 = { Listeners = ( { ADDRESS = 127.0.0.1:1110 Enable = NO } ) MAXERRORS = 5 } }');
  assert.deepEqual(model, { logLevel: 'debug', services: ['pop3', 'smtp'], pop3: { listeners: [{ address: '127.0.0.1:1110', enable: false }], maxErrors: 5 } });
  assert.equal(resolved.serviceOptions.pop3.listeners[0]!.enable, false);
});

test('units: seconds → ms, KB → bytes, 0 → UNLIMITED', () => {
  const { resolved } = load(`shutdownTimeout = 0
    imap = { listeners = ( { address = 127.0.0.1:1143 idleTimeout = 5 maxConnections = 0 peerTimeInterval = 2 } )
             connThreadHeapSize = 65536 threadIdleTimeout = 7 maxErrors = 0 maxLineLength = 1000 }`);
  const imap = resolved.serviceOptions.imap;
  assert.equal(resolved.shutdownTimeoutMs, 0);
  assert.equal(imap.listeners[0]!.idleTimeoutMs, 5000);
  assert.equal(imap.listeners[0]!.flow.maxConnections, UNLIMITED);
  assert.equal(imap.listeners[0]!.flow.peerTimeIntervalMs, 2000);
  assert.equal(imap.connThreadHeapBytes, 64 * 1024 * 1024);
  assert.equal(imap.threadIdleTimeoutMs, 7000);
  assert.equal(imap.maxErrors, UNLIMITED);
  assert.equal(imap.session.maxLineLength, 1000);
});

test('global rules, listener rules, TLS settings and UDP listeners resolve', () => {
  const { resolved } = load(`allowRules = ( { ipSet = ::1 maxConnections = 7 } )
    denyRules = ( { ipSet = 2001:db8::/32 enable = no } )
    pop3 = { listeners = ( { address = [::1]:1110 sslEnable = yes
      sslControl = { allowedVersions = (tls1_3) certFile = "/etc/cert.pem" requestClientAuth = yes cipherSuite = "HIGH:!aNULL" }
      denyRules = ( { ipSet = 10.0.0.0/255.0.0.0 } ) } ) }
    log = { listeners = ( { address = 127.0.0.1:2000 allowRules = ( { ipSet = 127.0.0.1 priority = 1 } ) } ) }`);
  assert.equal(resolved.allowRules[0]!.flow.maxConnections, 7);
  assert.deepEqual(resolved.denyRules, [{ ipSet: '2001:db8::/32', enable: false, priority: 100 }]);
  const l = resolved.serviceOptions.pop3.listeners[0]!;
  assert.deepEqual(l.address, { host: '::1', port: 1110, family: 6 });
  assert.equal(l.sslEnable, true);
  assert.deepEqual(l.ssl, {
    allowedVersions: ['tls1_3'], certFile: '/etc/cert.pem', keyFile: null, caFile: null,
    maxChainDepth: 9, requestClientAuth: true, cipherSuite: 'HIGH:!aNULL',
  });
  assert.deepEqual(l.denyRules, [{ ipSet: '10.0.0.0/255.0.0.0', enable: true, priority: 100 }]);
  const u = resolved.serviceOptions.log.udpListeners[0]!;
  assert.equal(u.allowRules[0]!.priority, 1);
  assert.equal(resolved.serviceOptions.log.listeners.length, 0);
});

const GOOD_IP_SETS = ['10.0.0.1', '10.0.0.1-10.0.0.20', '10.0.0.0/8', '10.0.0.1/255.0.0.0', '0.0.0.0/0', '::1', '2001:db8::/32', 'fe80::1-fe80::ff', '::ffff:10.0.0.1'];
for (const ipSet of GOOD_IP_SETS) {
  test(`IP_SET accepted: ${ipSet}`, () => {
    load(`denyRules = ( { ipSet = ${ipSet} } )`);
  });
}

const BAD_IP_SETS: Array<[string, string]> = [
  ['10.0.0', 'CONFIG_TYPE'], ['10.0.0.256', 'CONFIG_TYPE'], ['127.1', 'CONFIG_TYPE'], ['0x7f.0.0.1', 'CONFIG_TYPE'],
  ['10.0.0.1-::1', 'CONFIG_TYPE'], ['10.0.0.0/abc', 'CONFIG_TYPE'], ['host.example', 'CONFIG_TYPE'], ['1:2:3', 'CONFIG_TYPE'],
  ['10.0.0.0/33', 'CONFIG_RANGE'], ['::/129', 'CONFIG_RANGE'], ['10.0.0.9-10.0.0.1', 'CONFIG_RANGE'], ['10.0.0.0/255.0.255.0', 'CONFIG_RANGE'],
];
for (const [ipSet, code] of BAD_IP_SETS) {
  test(`IP_SET rejected: ${ipSet} (${code})`, () => {
    assertIssue(fail(`denyRules = ( { ipSet = ${ipSet} } )`), code, 2, 25, 'Server.denyRules[0].ipSet');
  });
}

const BAD_IP_PORTS: Array<[string, string]> = [
  ['127.0.0.1', 'CONFIG_TYPE'], ['::1:25', 'CONFIG_TYPE'], ['[10.0.0.1]:25', 'CONFIG_TYPE'], ['[::1]25', 'CONFIG_TYPE'],
  ['127.0.0.1:x', 'CONFIG_TYPE'], ['localhost:25', 'CONFIG_TYPE'], ['127.0.0.1:65536', 'CONFIG_RANGE'], ['[::1]:99999', 'CONFIG_RANGE'],
];
for (const [addr, code] of BAD_IP_PORTS) {
  test(`IP_PORT rejected: ${addr} (${code})`, () => assertIssue(fail(`statusListener = ${addr}`), code, 2, 18, 'Server.statusListener'));
}

// ---- one test per error kind -----------------------------------------------------------------

test('CONFIG_TYPE: "abc" for a UINT names line, column and path', () => {
  const e = fail('pop3 = {\n    listeners = ( { address = 127.0.0.1:1110\n        maxConnections = abc } )\n}');
  assertIssue(e, 'CONFIG_TYPE', 4, 26, 'Server.pop3.listeners[0].maxConnections');
  assert.equal(e.message, 'line 4, column 26: Server.pop3.listeners[0].maxConnections: expected an unsigned integer, got "abc"');
});

test('CONFIG_TYPE: an object where a set of objects is expected', () => {
  assertIssue(fail('pop3 = { listeners = { address = 127.0.0.1:1110 } }'), 'CONFIG_TYPE', 2, 22, 'Server.pop3.listeners');
});

test('CONFIG_TYPE: a scalar where an object is expected, a set where a value is expected', () => {
  assertIssue(fail('pop3 = yes'), 'CONFIG_TYPE', 2, 8, 'Server.pop3');
  assertIssue(fail('primaryDomain = (a b)'), 'CONFIG_TYPE', 2, 17, 'Server.primaryDomain');
});

test('CONFIG_TYPE: a word outside a CHOICE and a CHOICE-SET, and not yes/no', () => {
  assertIssue(fail('logLevel = loud'), 'CONFIG_TYPE', 2, 12, 'Server.logLevel');
  assertIssue(fail('services = (pop3 smtpx)'), 'CONFIG_TYPE', 2, 18, 'Server.services[1]');
  assertIssue(fail('enableFaultInjection = true'), 'CONFIG_TYPE', 2, 24, 'Server.enableFaultInjection');
});

test('CONFIG_RANGE: maxConnThreads below minConnThreads (written or default)', () => {
  assertIssue(fail('pop3 = { minConnThreads = 4 maxConnThreads = 2 }'), 'CONFIG_RANGE', 2, 46, 'Server.pop3.maxConnThreads');
  assertIssue(fail('pop3 = { minConnThreads = 4 }'), 'CONFIG_RANGE', 2, 27, 'Server.pop3.minConnThreads');
  assertIssue(fail('rpop = { minPoolThreads = 3 maxPoolThreads = 2 }'), 'CONFIG_RANGE', 2, 46, 'Server.rpop.maxPoolThreads');
});

test('CONFIG_RANGE: minConnThreads 0, maxLineLength below 64, UINT past 32 bits', () => {
  assertIssue(fail('imap = { minConnThreads = 0 }'), 'CONFIG_RANGE', 2, 27, 'Server.imap.minConnThreads');
  assertIssue(fail('imap = { maxLineLength = 10 }'), 'CONFIG_RANGE', 2, 26, 'Server.imap.maxLineLength');
  assertIssue(fail('imap = { maxErrors = 4294967296 }'), 'CONFIG_RANGE', 2, 22, 'Server.imap.maxErrors');
});

test('CONFIG_RANGE: listener port above 65535', () => {
  assertIssue(fail('pop3 = { listeners = ( { address = 127.0.0.1:70000 } ) }'), 'CONFIG_RANGE', 2, 36, 'Server.pop3.listeners[0].address');
});

test('CONFIG_RANGE: attribute name longer than 64, value longer than 8192', () => {
  const name = 'x'.repeat(65);
  assertIssue(fail(`${name} = 1`), 'CONFIG_RANGE', 2, 1, `Server.${name}`);
  assertIssue(fail(`primaryDomain = ${'a'.repeat(8193)}`), 'CONFIG_RANGE', 2, 17, 'Server.primaryDomain');
  load(`primaryDomain = ${'a'.repeat(8192)}`);
});

test('CONFIG_UNKNOWN_ATTRIBUTE: a name the schema does not know, at the name', () => {
  assertIssue(fail('pop3 = {\n  listeners = ( { address = 127.0.0.1:1110 colour = red } ) }'), 'CONFIG_UNKNOWN_ATTRIBUTE', 3, 44, 'Server.pop3.listeners[0].colour');
  assertIssue(catchError(() => loadConfig('Sever { }')), 'CONFIG_UNKNOWN_ATTRIBUTE', 1, 1, 'Sever');
});

test('CONFIG_DUPLICATE: one attribute twice in an object (names differing in case)', () => {
  assertIssue(fail('pop3 = { maxErrors = 1\n MaxErrors = 2 }'), 'CONFIG_DUPLICATE', 3, 2, 'Server.pop3.maxErrors');
});

test('CONFIG_DUPLICATE: two listeners of one service on one address', () => {
  const e = fail('pop3 = { listeners = (\n { address = 127.0.0.1:1110 }\n { address = 127.0.0.1:1110 enable = no } ) }');
  assertIssue(e, 'CONFIG_DUPLICATE', 4, 14, 'Server.pop3.listeners[1].address');
  assert.match(e.message, /Server\.pop3\.listeners\[0\]\.address at line 3, column 14/);
});

test('CONFIG_DUPLICATE: two services on one address (IPv6 spelled two ways), naming both', () => {
  const e = fail('pop3 = { listeners = ( { address = [::1]:1110 } ) }\nimap = { listeners = ( { address = [0:0::1]:1110 } ) }');
  assertIssue(e, 'CONFIG_DUPLICATE', 3, 36, 'Server.imap.listeners[0].address');
  assert.match(e.message, /Server\.pop3\.listeners\[0\]\.address at line 2, column 36/);
});

test('CONFIG_DUPLICATE: a listener on another service\'s default listener or the status listener', () => {
  const e = fail('imap = { listeners = ( { address = 127.0.0.1:2525 } ) }');
  assertIssue(e, 'CONFIG_DUPLICATE', 2, 36, 'Server.imap.listeners[0].address');
  assert.match(e.message, /smtpIncoming/);
  assertIssue(fail('statusListener = 127.0.0.1:1110'), 'CONFIG_DUPLICATE', 2, 18, 'Server.statusListener');
});

test('not duplicates: port 0, a disabled listener elsewhere, TCP and UDP on one port', () => {
  load(`pop3 = { listeners = ( { address = 127.0.0.1:0 } ) }
    imap = { listeners = ( { address = 127.0.0.1:0 } { address = 127.0.0.1:2000 } ) }
    cli = { listeners = ( { address = 127.0.0.1:1110 enable = no } ) }`);
});

test('CONFIG_MISSING: a listener without address, a rule without ipSet, no Server', () => {
  assertIssue(fail('pop3 = { listeners = ( { enable = yes } ) }'), 'CONFIG_MISSING', 2, 24, 'Server.pop3.listeners[0].address');
  assertIssue(fail('pop3 = { allowRules = ( { priority = 1 } ) }'), 'CONFIG_MISSING', 2, 25, 'Server.pop3.allowRules[0].ipSet');
  assertIssue(catchError(() => loadConfig('# nothing\n')), 'CONFIG_MISSING', 1, 1, 'Server');
});

test('every problem is collected; the first in file order gives the code', () => {
  const e = fail('imap = { maxErrors = x }\nfoo = 1\npop3 = { listeners = ( { } ) }');
  assert.equal(e.code, 'CONFIG_TYPE');
  const errors = e.details?.['errors'] as Array<{ code: string; line: number; path: string }>;
  assert.deepEqual(errors.map((x) => [x.code, x.line, x.path]), [
    ['CONFIG_TYPE', 2, 'Server.imap.maxErrors'],
    ['CONFIG_UNKNOWN_ATTRIBUTE', 3, 'Server.foo'],
    ['CONFIG_MISSING', 4, 'Server.pop3.listeners[0].address'],
  ]);
  assert.equal(e.message.split('\n').length, 3);
});

test('CONFIG_SYNTAX and CONFIG_READ come through the loaders', async () => {
  assert.equal(catchError(() => loadConfig('Server {')).code, 'CONFIG_SYNTAX');
  await assert.rejects(loadConfigFile('/nonexistent/postern.cfg'), (e: PosternError) => {
    assert.equal(e.code, 'CONFIG_READ');
    assert.equal(e.details?.['path'], '/nonexistent/postern.cfg');
    return true;
  });
});

test('a file error message starts with the file name', async () => {
  const { mkdtemp, writeFile, rm } = await import('node:fs/promises');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const dir = await mkdtemp(join(tmpdir(), 'postern-cfg-'));
  try {
    const file = join(dir, 'postern.cfg');
    await writeFile(file, 'Server {\n  logLevel = loud\n}\n');
    await assert.rejects(loadConfigFile(file), (e: PosternError) => e.message.startsWith(`${file}: line 2, column 14: Server.logLevel: `));
    await writeFile(file, EXAMPLE);
    assert.equal((await loadConfigFile(file)).resolved.primaryDomain, 'example.org');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
