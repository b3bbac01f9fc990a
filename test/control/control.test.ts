/**
 * control.test.ts: control server ↔ client round trips over a unix socket in a temp dir.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { controlRequest } from '../../src/control/client.ts';
import { startControlServer, type ControlServer } from '../../src/control/server.ts';
import { PosternError, isPosternError } from '../../src/errors.ts';

const dir = mkdtempSync(join(tmpdir(), 'postern-ctl-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Send raw bytes to the socket; resolve with the first node-ipc message that comes back. */
function rawExchange(path: string, payload: string): Promise<{ type: string; data: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const s = connect({ path });
    let buf = '';
    s.setEncoding('utf8');
    s.on('error', reject);
    s.on('connect', () => s.write(payload));
    s.on('data', (d: string) => {
      buf += d;
      const i = buf.indexOf('\f');
      if (i >= 0) {
        s.destroy();
        resolve(JSON.parse(buf.slice(0, i)));
      }
    });
  });
}

async function rejectsWith(p: Promise<unknown>, code: string): Promise<PosternError> {
  try {
    await p;
  } catch (e) {
    assert.ok(isPosternError(e), `expected a PosternError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    return e;
  }
  assert.fail(`expected rejection with ${code}`);
}

describe('control server and client', () => {
  const socketPath = join(dir, 'run', 'postern.sock');
  const calls: Array<[string, Record<string, unknown>]> = [];
  let server: ControlServer;

  before(async () => {
    server = await startControlServer({
      socketPath,
      dispatch: async (verb, args) => {
        calls.push([verb, args]);
        switch (verb) {
          case 'status': return { echo: args, big: Infinity, list: [1, 'two'] };
          case 'reload': return undefined;
          case 'service.stop': throw new PosternError('SERVICE_NOT_RUNNING', `service ${String(args.name)} is not running`, { name: args.name });
          case 'service.start': throw new Error('boom');
          case 'stop': return new Promise(() => {}); // never answers
          default: throw new PosternError('NOT_IMPLEMENTED', verb);
        }
      },
    });
  });
  after(() => server.close());

  it('creates the socket 0600 in a 0700 directory', () => {
    assert.equal(statSync(socketPath).mode & 0o777, 0o600);
    assert.equal(statSync(join(dir, 'run')).mode & 0o777, 0o700);
  });

  it('returns the result of dispatch', async () => {
    const r = await controlRequest(socketPath, 'status', { a: 1, nested: { b: [true] } });
    assert.deepEqual(r, { echo: { a: 1, nested: { b: [true] } }, big: null, list: [1, 'two'] });
    assert.deepEqual(calls.at(-1), ['status', { a: 1, nested: { b: [true] } }]);
  });

  it('returns null for an undefined result and defaults args to {}', async () => {
    assert.equal(await controlRequest(socketPath, 'reload'), null);
    assert.deepEqual(calls.at(-1), ['reload', {}]);
  });

  it('handles concurrent requests', async () => {
    const rs = await Promise.all([1, 2, 3, 4].map((n) => controlRequest(socketPath, 'status', { n })));
    assert.deepEqual(rs.map((r) => (r as { echo: { n: number } }).echo.n), [1, 2, 3, 4]);
  });

  it('rebuilds a server-side PosternError with its code and details', async () => {
    const e = await rejectsWith(controlRequest(socketPath, 'service.stop', { name: 'imap' }), 'SERVICE_NOT_RUNNING');
    assert.deepEqual(e.details, { name: 'imap' });
    assert.match(e.message, /imap/);
  });

  it('turns other errors into INTERNAL', async () => {
    await rejectsWith(controlRequest(socketPath, 'service.start', { name: 'x' }), 'INTERNAL');
  });

  it('answers an unknown verb with CONTROL_BAD_REQUEST without dispatching', async () => {
    const n = calls.length;
    await rejectsWith(controlRequest(socketPath, 'no.such.verb'), 'CONTROL_BAD_REQUEST');
    await rejectsWith(controlRequest(socketPath, 'Bad Verb!'), 'CONTROL_BAD_REQUEST');
    assert.equal(calls.length, n);
  });

  it('answers malformed requests with CONTROL_BAD_REQUEST', async () => {
    const bad = async (payload: string, id: unknown): Promise<void> => {
      const m = await rawExchange(socketPath, payload);
      assert.equal(m.type, 'reply');
      assert.equal(m.data.ok, false);
      assert.equal(m.data.id, id);
      assert.equal((m.data.error as { code: string }).code, 'CONTROL_BAD_REQUEST');
    };
    await bad('this is not json\f', null);
    await bad(`${JSON.stringify({ type: 'request', data: { verb: 'status' } })}\f`, null);
    await bad(`${JSON.stringify({ type: 'request', data: { id: 7, verb: 'status', args: [1] } })}\f`, 7);
    await bad(`${JSON.stringify({ type: 'request', data: { id: 'x', verb: 42 } })}\f`, 'x');
    await bad(`${JSON.stringify({ type: 'request', data: 'status' })}\f`, null);
    // and it still serves well-formed ones
    const ok = await rawExchange(socketPath, `${JSON.stringify({ type: 'request', data: { id: 9, verb: 'status', args: {} } })}\f`);
    assert.equal(ok.data.ok, true);
  });

  it('times out with CONTROL_UNAVAILABLE when no reply comes', async () => {
    const t0 = Date.now();
    await rejectsWith(controlRequest(socketPath, 'stop', {}, 200), 'CONTROL_UNAVAILABLE');
    assert.ok(Date.now() - t0 < 1500);
  });

  it('refuses to start a second server on a live socket', async () => {
    await rejectsWith(startControlServer({ socketPath, dispatch: async () => null }), 'LISTEN_FAILED');
    assert.ok(existsSync(socketPath), 'the live socket must not be removed');
    assert.equal(await controlRequest(socketPath, 'reload'), null);
  });
});

describe('control client without a server', () => {
  it('rejects quickly with CONTROL_UNAVAILABLE naming the socket path', async () => {
    const p = join(dir, 'nothing', 'postern.sock');
    const t0 = Date.now();
    const e = await rejectsWith(controlRequest(p, 'status'), 'CONTROL_UNAVAILABLE');
    assert.ok(Date.now() - t0 < 1000, 'must not retry');
    assert.ok(e.message.includes(p));
    assert.ok(!e.message.includes('\n'));
  });

  it('replaces a stale socket file, refuses a non-socket path, removes the socket on close', async () => {
    const p = join(dir, 'stale', 'postern.sock');
    // a process that binds the socket and dies without cleaning up leaves a stale file
    const r = spawnSync(process.execPath, ['-e', `require('fs').mkdirSync(${JSON.stringify(join(dir, 'stale'))});` +
      `require('net').createServer().listen(${JSON.stringify(p)},()=>process.kill(process.pid,'SIGKILL'))`], { stdio: 'ignore' });
    assert.equal(r.signal, 'SIGKILL');
    assert.ok(existsSync(p));
    await rejectsWith(controlRequest(p, 'status'), 'CONTROL_UNAVAILABLE');
    const srv = await startControlServer({ socketPath: p, dispatch: async () => 'hi' });
    assert.equal(await controlRequest(p, 'status'), 'hi');
    await srv.close();
    assert.ok(!existsSync(p));

    const f = join(dir, 'plain-file');
    writeFileSync(f, 'x');
    await rejectsWith(startControlServer({ socketPath: f, dispatch: async () => null }), 'LISTEN_FAILED');
    assert.ok(existsSync(f));
  });
});
