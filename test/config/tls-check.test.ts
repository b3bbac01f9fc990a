/**
 * test/config/tls-check.test.ts: configs that cannot run are refused before they run (issue 11
 * item 12): `postern config check` (the real CLI) on a missing certificate file, a key that
 * does not match its certificate, implicit TLS without a certificate, and several problems at
 * once: a non-zero exit and each problem printed once, naming its attribute path; start and
 * reload refuse the same files (CONFIG_TLS, the running config unchanged); a listener whose
 * port is taken (at start, and added by a reload) is an error on /status with its reason and
 * in the log, and the server never says "postern started".
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { isPosternError } from '../../src/errors.ts';
import { startServer } from '../../actors/server.ts';
import type { StatusDoc } from '../../src/status/types.ts';
import type { Logger } from '../../src/log.ts';
import { makeCert } from '../ftp/helpers.ts';
import { getJson, tmpDir, waitFor } from '../helpers.ts';

const dir = tmpDir('postern-tls-check-');
const a = makeCert(fs.mkdtempSync(path.join(dir, 'a-')));
const b = makeCert(fs.mkdtempSync(path.join(dir, 'b-')));
const NODE = path.resolve('node_modules/.bin/node');

const config = (listeners: string, more = ''): string => `
Server {
    services = (pop3)
    statusListener = 127.0.0.1:0
    logLevel = error
    ${more}
    pop3 = { listeners = ( ${listeners} ) minConnThreads = 1 maxConnThreads = 1 }
}`;
const ssl = (cert: string, key: string) => `sslControl = { certFile = "${cert}" keyFile = "${key}" }`;

function check(text: string): Promise<{ code: number; stdout: string; lines: string[] }> {
  const file = path.join(dir, `c-${Math.random().toString(36).slice(2)}.cfg`);
  fs.writeFileSync(file, text);
  return new Promise((resolve) => {
    execFile(NODE, ['bin/postern.js', 'config', 'check', '--config', file], { timeout: 30_000 }, (e, stdout, stderr) => {
      resolve({ code: e === null ? 0 : Number(e.code), stdout, lines: stderr.split('\n').filter((l) => l !== '') });
    });
  });
}

test('config check: each unusable TLS setting is refused once, naming its attribute path', async () => {
  const cases: Array<[string, string, RegExp]> = [
    ['missing certificate', `{ address = 127.0.0.1:1995 sslEnable = yes ${ssl('/nonexistent/cert.pem', a.key)} }`, /Server\.pop3\.listeners\[0\]\.sslControl\.certFile: cannot read the certificate file \/nonexistent\/cert\.pem/],
    ['missing key', `{ address = 127.0.0.1:1995 ${ssl(a.cert, '/nonexistent/key.pem')} }`, /Server\.pop3\.listeners\[0\]\.sslControl\.keyFile: cannot read the key file/],
    ['key of another certificate', `{ address = 127.0.0.1:1995 sslEnable = yes ${ssl(a.cert, b.key)} }`, /Server\.pop3\.listeners\[0\]\.sslControl\.keyFile: the key does not match the certificate/],
    ['implicit TLS without a certificate', '{ address = 127.0.0.1:1110 } { address = 127.0.0.1:1995 sslEnable = yes }', /Server\.pop3\.listeners\[1\]\.sslEnable: sslEnable = yes needs a certificate/],
  ];
  for (const [what, listeners, re] of cases) {
    const r = await check(config(listeners));
    assert.notEqual(r.code, 0, what);
    assert.equal(r.lines.length, 1, `${what}: ${r.lines.join(' | ')}`);
    assert.match(r.lines[0]!, re, what);
  }
  const good = await check(config(`{ address = 127.0.0.1:1995 sslEnable = yes ${ssl(a.cert, a.key)} }`));
  assert.equal(good.code, 0, good.lines.join('\n'));
  assert.match(good.stdout, /^ok: /);
});

test('config check: several problems, each printed once', async () => {
  const r = await check(config('{ address = 127.0.0.1:1110 idleTimeout = soon } { address = 127.0.0.1:1111 colour = red }', 'logLevel = loud'));
  assert.notEqual(r.code, 0);
  assert.equal(r.lines.length, 3, r.lines.join('\n'));
  assert.equal(new Set(r.lines).size, 3, r.lines.join('\n'));
  for (const p of ['Server.logLevel', 'Server.pop3.listeners[0].idleTimeout', 'Server.pop3.listeners[1].colour']) assert.ok(r.lines.some((l) => l.includes(p)), p);
  const tls = await check(config(`{ address = 127.0.0.1:1995 sslEnable = yes } { address = 127.0.0.1:1996 sslEnable = yes ${ssl(a.cert, b.key)} }`));
  assert.notEqual(tls.code, 0);
  assert.equal(tls.lines.length, 2, tls.lines.join('\n'));
  assert.match(tls.lines[0]!, /listeners\[0\]\.sslEnable/);
  assert.match(tls.lines[1]!, /listeners\[1\]\.sslControl\.keyFile/);
});

/** A logger whose JSON lines the test reads. */
function memLogger(): { log: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split('\n')) if (l !== '') lines.push(JSON.parse(l));
      cb();
    },
  });
  return { log: pino({ level: 'info' }, stream) as unknown as Logger, lines };
}

const getStatus = async (port: number): Promise<StatusDoc> => (await getJson(`http://127.0.0.1:${port}/status`)) as StatusDoc;

test('start and reload refuse unusable TLS files; a listener whose port is taken is an error on /status and in the log', async () => {
  const blocker = net.createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
  const taken = (blocker.address() as net.AddressInfo).port;
  const start = (text: string, log = memLogger().log) => startServer({ configText: text, dataDir: tmpDir('postern-tls-check-data-'), statusPort: 0, controlSocket: false, backoffInitialMs: 200, log });
  try {
    // (a server that starts anyway is stopped, so a failure cannot leave it running)
    const started = start(config(`{ address = 127.0.0.1:0 sslEnable = yes ${ssl(a.cert, b.key)} }`)).then(async (s) => {
      await s.stop();
      throw new Error('started with a key that does not match its certificate');
    });
    await assert.rejects(started, (e: unknown) => isPosternError(e) && e.code === 'CONFIG_TLS' && /listeners\[0\]\.sslControl\.keyFile/.test(e.message));

    // at start: the service cannot open its listener; /status says which and why
    const m1 = memLogger();
    const s1 = await start(config(`{ address = 127.0.0.1:${taken} }`), m1.log);
    try {
      const l = (await getStatus(s1.statusPort)).services.find((s) => s.name === 'pop3')!.listeners[0]!;
      assert.equal(l.listening, false);
      assert.equal(l.error?.code, 'LISTEN_FAILED');
      assert.match(l.error!.message, /EADDRINUSE/);
      assert.ok(m1.lines.some((x) => x.level === 50 && /failed to start/.test(String(x.msg))), 'an error in the log');
      assert.ok(!m1.lines.some((x) => x.msg === 'postern started'));
    } finally {
      await s1.stop();
    }

    // at reload: a bad certificate is refused and the running config kept; a taken port is an
    // error on that listener while the others keep listening
    const m2 = memLogger();
    const good = config(`{ address = 127.0.0.1:0 sslEnable = yes ${ssl(a.cert, a.key)} }`);
    const s2 = await start(good, m2.log);
    try {
      const tlsKey = s2.status().services.find((s) => s.name === 'pop3')!.listeners[0]!.key;
      const bad = config(`{ address = ${tlsKey} sslEnable = yes ${ssl(a.cert, '/nonexistent/key.pem')} }`);
      await assert.rejects(s2.reload(bad), (e: unknown) => isPosternError(e) && e.code === 'CONFIG_TLS' && /listeners\[0\]\.sslControl\.keyFile/.test(e.message));
      await s2.reload(config(`{ address = ${tlsKey} sslEnable = yes ${ssl(a.cert, a.key)} } { address = 127.0.0.1:${taken} }`));
      const st = await waitFor(async () => {
        const ls = (await getStatus(s2.statusPort)).services.find((s) => s.name === 'pop3')!.listeners;
        return ls.find((x) => x.key === `127.0.0.1:${taken}` && x.error !== undefined) === undefined ? null : ls;
      }, 10_000, 'the reloaded listener\'s error on /status');
      const failed = st.find((x) => x.key === `127.0.0.1:${taken}`)!;
      assert.equal(failed.listening, false);
      assert.match(failed.error!.message, /EADDRINUSE/);
      assert.equal(st.find((x) => x.key === tlsKey)!.listening, true);
      assert.ok(m2.lines.some((x) => x.level === 50 && x.listener === `127.0.0.1:${taken}`), 'an error in the log');
    } finally {
      await s2.stop();
    }
  } finally {
    blocker.close();
  }
});
