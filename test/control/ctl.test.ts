/**
 * ctl.test.ts: `postern ctl` argument parsing, exit codes, --json and human output, against an
 * in-process control server.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseCtlArgs, runCtl } from '../../src/cli/ctl.ts';
import { startControlServer, type ControlServer } from '../../src/control/server.ts';
import { PosternError, isPosternError } from '../../src/errors.ts';
import type { StatusDoc } from '../../src/status/types.ts';

const dir = mkdtempSync(join(tmpdir(), 'postern-ctl-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const statusDoc: StatusDoc = {
  server: { version: '0.1.0', pid: 99, uptimeSec: 3725, dataDir: dir, node: 'v24.21.0' },
  tree: {
    id: 'root', kind: 'supervisor', state: 'running', mailboxDepth: 0, mailboxCapacity: Infinity, restarts: 0,
    children: [
      { id: 'smtpIncoming', kind: 'service', state: 'running', mailboxDepth: 2, mailboxCapacity: 100, restarts: 1 },
      {
        id: 'imap', kind: 'service', state: 'failed', mailboxDepth: 0, mailboxCapacity: 100, restarts: 0,
        lastError: { code: 'NOT_IMPLEMENTED', message: 'imap is not implemented', retryable: false },
      },
    ],
  },
  services: [
    {
      name: 'smtpIncoming', state: 'running', implemented: true, connThreads: { min: 1, max: 4, current: 2 },
      listeners: [{ key: '0.0.0.0:25', transport: 'tcp', enable: true, listening: true, open: 3, accepted: 10, refused: {} }],
      rules: [], openConnections: 3, pool: { threads: 2, queued: 0, completed: 5 },
    },
  ],
};

function capture(): { out: string[]; err: string[]; io: { out(s: string): void; err(s: string): void } } {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { out: (s) => { out.push(s); }, err: (s) => { err.push(s); } } };
}

describe('parseCtlArgs', () => {
  const sock = join(dir, 'run', 'postern.sock');
  const p = (...a: string[]) => parseCtlArgs(['--data-dir', dir, ...a], {});

  it('maps every command to its control verb and args', () => {
    const cases: Array<[string[], string, Record<string, unknown>]> = [
      [['status'], 'status', {}],
      [['reload'], 'reload', {}],
      [['stop'], 'stop', {}],
      [['service', 'start', 'imap'], 'service.start', { name: 'imap' }],
      [['service', 'stop', 'imap'], 'service.stop', { name: 'imap' }],
      [['service', 'restart', 'smtpIncoming'], 'service.restart', { name: 'smtpIncoming' }],
      [['domain', 'add', 'example.org'], 'domain.add', { name: 'example.org' }],
      [['domain', 'add', 'example.org', '--password', 'pm'], 'domain.add', { name: 'example.org', postmasterPassword: 'pm' }],
      [['domain', 'list'], 'domain.list', {}],
      [['domain', 'remove', 'example.org'], 'domain.remove', { name: 'example.org' }],
      [['account', 'add', 'bob@example.org', '--password', 's3cret'], 'account.add', { address: 'bob@example.org', password: 's3cret' }],
      [['account', '--password=pw', 'passwd', 'bob@example.org'], 'account.passwd', { address: 'bob@example.org', password: 'pw' }],
      [['account', 'list'], 'account.list', {}],
      [['account', 'list', 'example.org'], 'account.list', { domain: 'example.org' }],
      [['account', 'remove', 'bob@example.org'], 'account.remove', { address: 'bob@example.org' }],
    ];
    for (const [argv, verb, args] of cases) {
      const c = p(...argv);
      assert.equal(c.verb, verb, argv.join(' '));
      assert.deepEqual(c.args, args, argv.join(' '));
      assert.equal(c.socketPath, sock);
      assert.equal(c.json, false);
    }
    assert.equal(parseCtlArgs(['status', '--json', '--data-dir', dir], {}).json, true);
  });

  it('finds the data dir in --data-dir, then POSTERN_DATA_DIR, then ./data', () => {
    assert.equal(parseCtlArgs(['status'], { POSTERN_DATA_DIR: '/srv/p' }).socketPath, '/srv/p/run/postern.sock');
    assert.equal(parseCtlArgs(['--data-dir', 'rel', 'status'], { POSTERN_DATA_DIR: '/srv/p' }).socketPath, resolve('rel/run/postern.sock'));
    assert.equal(parseCtlArgs(['status'], {}).socketPath, resolve('data/run/postern.sock'));
  });

  it('rejects bad usage with CONTROL_BAD_REQUEST', () => {
    const bad = [
      [], ['frobnicate'], ['status', 'extra'], ['service'], ['service', 'bounce', 'x'], ['service', 'start'],
      ['domain'], ['domain', 'add'], ['domain', 'list', 'x'], ['account', 'add', 'bob@example.org'],
      ['account', 'add', 'bob', '--password', 'x'], ['account', 'add', 'a@b@c', '--password', 'x'],
      ['account', 'remove', 'bob@example.org', '--password', 'x'], ['account', 'passwd'], ['status', '--bogus'],
      ['--data-dir'], ['reload', '--password', 'x'], ['domain', 'remove', 'x.org', '--password', 'x'], ['domain', 'add', 'x.org', '--password='],
    ];
    for (const argv of bad) {
      assert.throws(() => p(...argv), (e: unknown) => isPosternError(e, 'CONTROL_BAD_REQUEST'), argv.join(' '));
    }
  });
});

describe('runCtl', () => {
  let server: ControlServer;
  const calls: Array<[string, Record<string, unknown>]> = [];

  before(async () => {
    server = await startControlServer({
      socketPath: join(dir, 'run', 'postern.sock'),
      dispatch: async (verb, args) => {
        calls.push([verb, args]);
        switch (verb) {
          case 'status': return statusDoc;
          case 'domain.list': return ['example.org', 'example.net'];
          case 'account.list': return [{ address: 'bob@example.org', quota: 10 }];
          case 'domain.add': return { name: args.name, postmaster: `postmaster@${String(args.name)}`, ...(args.postmasterPassword === undefined ? { postmasterPassword: 'Rnd0m-pw' } : {}) };
          case 'service.stop': throw new PosternError('SERVICE_NOT_RUNNING', `service ${String(args.name)} is not running`);
          default: return null;
        }
      },
    });
  });
  after(() => server.close());

  const run = async (...argv: string[]) => {
    const c = capture();
    const code = await runCtl(['--data-dir', dir, ...argv], c.io);
    return { code, out: c.out, err: c.err };
  };

  it('sends the request and prints a confirmation', async () => {
    let r = await run('service', 'restart', 'imap');
    assert.deepEqual(r, { code: 0, out: ['service imap restarted'], err: [] });
    assert.deepEqual(calls.at(-1), ['service.restart', { name: 'imap' }]);
    r = await run('account', 'add', 'bob@example.org', '--password', 'pw');
    assert.deepEqual(r, { code: 0, out: ['account bob@example.org added'], err: [] });
    assert.deepEqual(calls.at(-1), ['account.add', { address: 'bob@example.org', password: 'pw' }]);
  });

  it('domain add prints the postmaster and, once, the password it was given at random', async () => {
    let r = await run('domain', 'add', 'a.org');
    assert.equal(r.code, 0);
    assert.deepEqual(r.out[0], 'domain a.org added, with postmaster@a.org');
    assert.match(r.out[1]!, /^postmaster@a\.org password: Rnd0m-pw /);
    r = await run('domain', 'add', 'b.org', '--password', 'given');
    assert.deepEqual(r.out, ['domain b.org added, with postmaster@b.org']);
    assert.deepEqual(calls.at(-1), ['domain.add', { name: 'b.org', postmasterPassword: 'given' }]);
  });

  it('prints lists one item a line', async () => {
    assert.deepEqual((await run('domain', 'list')).out, ['example.org', 'example.net']);
    assert.deepEqual((await run('account', 'list', 'example.org')).out, ['bob@example.org quota=10']);
  });

  it('--json prints {"ok":true,"result":…}', async () => {
    const r = await run('--json', 'domain', 'list');
    assert.equal(r.code, 0);
    assert.equal(r.out.length, 1);
    assert.deepEqual(JSON.parse(r.out[0]!), { ok: true, result: ['example.org', 'example.net'] });
    const s = await run('status', '--json');
    assert.deepEqual(JSON.parse(s.out[0]!), { ok: true, result: JSON.parse(JSON.stringify(statusDoc)) });
    assert.deepEqual(JSON.parse((await run('reload', '--json')).out[0]!), { ok: true, result: null });
  });

  it('renders status as a compact tree', async () => {
    const r = await run('status');
    assert.equal(r.code, 0);
    assert.deepEqual(r.err, []);
    const text = r.out.join('\n');
    assert.match(r.out[0]!, /^postern 0\.1\.0 +pid 99 +up 1h2m5s/);
    const root = r.out.find((l) => /^ {2}root\b/.test(l));
    assert.ok(root !== undefined, text);
    assert.match(root, /supervisor +running +mailbox 0\/∞ +restarts 0/);
    assert.match(text, /\n {4}smtpIncoming +service +running +mailbox 2\/100 +restarts 1/);
    assert.match(text, /\n {4}imap +service +failed .*last error NOT_IMPLEMENTED: imap is not implemented/);
    const svc = r.out.find((l) => /^ {2}smtpIncoming +running/.test(l));
    assert.ok(svc !== undefined, text);
    assert.match(svc, /0\.0\.0\.0:25\/tcp listening open 3/);
    assert.match(svc, /open connections 3/);
  });

  it('server-side errors exit 1 with one line (or JSON with --json)', async () => {
    let r = await run('service', 'stop', 'imap');
    assert.equal(r.code, 1);
    assert.deepEqual(r.out, []);
    assert.equal(r.err.length, 1);
    assert.match(r.err[0]!, /^postern ctl: service imap is not running/);
    r = await run('--json', 'service', 'stop', 'imap');
    assert.equal(r.code, 1);
    assert.deepEqual(r.err, []);
    assert.deepEqual(JSON.parse(r.out[0]!), { ok: false, error: { code: 'SERVICE_NOT_RUNNING', message: 'service imap is not running' } });
  });

  it('usage errors exit 2 with one line (or JSON with --json) and send nothing', async () => {
    const n = calls.length;
    let r = await run('service', 'bounce', 'imap');
    assert.equal(r.code, 2);
    assert.deepEqual(r.out, []);
    assert.equal(r.err.length, 1);
    assert.match(r.err[0]!, /^postern ctl: /);
    r = await run('--json', 'account', 'add', 'bob@example.org');
    assert.equal(r.code, 2);
    assert.deepEqual(r.err, []);
    const j = JSON.parse(r.out[0]!);
    assert.equal(j.ok, false);
    assert.equal(j.error.code, 'CONTROL_BAD_REQUEST');
    r = await run('--json', '--nope');
    assert.equal(r.code, 2);
    assert.equal(JSON.parse(r.out[0]!).ok, false);
    assert.equal(calls.length, n);
  });

  it('--help prints usage and exits 0', async () => {
    const r = await run('--help');
    assert.equal(r.code, 0);
    assert.match(r.out[0]!, /^usage: postern ctl/);
  });

  it('no server: exit 1, CONTROL_UNAVAILABLE, naming the socket', async () => {
    const c = capture();
    const other = join(dir, 'elsewhere');
    const code = await runCtl(['--data-dir', other, 'status'], c.io);
    assert.equal(code, 1);
    assert.equal(c.err.length, 1);
    assert.match(c.err[0]!, /^postern ctl: .*elsewhere\/run\/postern\.sock/);
    const j = capture();
    assert.equal(await runCtl(['--data-dir', other, '--json', 'status'], j.io), 1);
    assert.equal(JSON.parse(j.out[0]!).error.code, 'CONTROL_UNAVAILABLE');
  });
});
