/**
 * test/cli/config.test.ts: the CLI's server contexts over raw sockets, against a running
 * server: the seed's example (CONFIG SERVER, CONFIG POP3, ADD LISTENER address …, COMMIT,
 * COMMIT) whose new listener shows on /status and answers POP3; SET of several pairs, a bad
 * value refused at once with the config error, SHOW and SHOW ATTR, LIST Listeners, UPDATE and
 * REMOVE Listener, CONFIG AccessControl with a deny rule that then refuses POP3 clients, DONE,
 * BACK dropping changes, RESET, CONFIG DNR and CONFIG SSLCONTROL (object contexts), SHOW
 * Config, START/STOP Service at once, SAVE CONFIG writing a file that `postern config check`
 * accepts and that holds the change; wrong-context verbs.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { freePort, waitFor } from '../helpers.ts';
import { loggedIn, script, startCli, type CliEnv } from './helpers.ts';

let env: CliEnv;

before(async () => {
  env = await startCli({ services: ['pop3'], blocks: 'pop3 = { listeners = ( { address = 127.0.0.1:0 } ) minConnThreads = 1 maxConnThreads = 1 }' });
});
after(async () => {
  await env?.stop();
});

/** The POP3 greeting (or the refusal) on a port. */
function pop3Greeting(port: number, host = '127.0.0.1'): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host });
    s.setEncoding('utf8');
    let got = '';
    s.on('data', (d: string) => {
      got += d;
      if (got.includes('\r\n')) {
        s.destroy();
        resolve(got.split('\r\n')[0]!);
      }
    });
    s.on('error', reject);
    s.on('close', () => resolve(got));
  });
}

const NODE = path.resolve('node_modules/.bin/node');

function configCheck(file: string): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(NODE, ['bin/postern.js', 'config', 'check', '--config', file], { timeout: 30_000 }, (e, _out, stderr) => {
      resolve({ code: e === null ? 0 : Number(e.code), stderr });
    });
  });
}

test('the seed example: ADD LISTENER, COMMIT, COMMIT; the listener is on /status and answers POP3', async () => {
  const port = await freePort();
  const c = await loggedIn(env.port);
  await script(c, [
    ['CONFIG SERVER', '+OK', '<server#> '],
    ['CONFIG POP3', '+OK', '<server-pop3#> '],
    [`ADD LISTENER address 127.0.0.1:${port}`, '+OK', '<server-pop3-listener#> '],
    ['COMMIT', '+OK', '<server-pop3#> '],
    ['COMMIT', '+OK', '<server#> '],
  ]);
  const pop = await waitFor(async () => (await env.status()).services.find((s) => s.name === 'pop3')!.listeners.find((l) => l.key === `127.0.0.1:${port}` && l.listening), 10_000, 'the new listener on /status');
  assert.equal(pop.port, port);
  assert.match(await pop3Greeting(port), /^\+OK /);
  const ls = await script(c, [['CONFIG POP3', '+OK', '<server-pop3#> '], ['LIST Listeners', '+OK', '<server-pop3#> ']]);
  const rows = ls[1]!.lines.slice(5, -1);
  assert.deepEqual(rows, ['127.0.0.1:0 | yes', `127.0.0.1:${port} | yes`]);
  // UPDATE Listener: disable it; then REMOVE it
  await script(c, [
    [`UPDATE Listener 127.0.0.1:${port}`, '+OK', '<server-pop3-listener#> '],
    ['SET enable no idleTimeout 30', '+OK', '<server-pop3-listener#> '],
    ['SHOW ATTR enable', '+OK', '<server-pop3-listener#> '],
  ]);
  assert.deepEqual(c.answers[c.answers.length - 1]!.lines, ['enable = no']);
  await script(c, [
    ['CONFIG SSLCONTROL', '+OK', '<server-pop3-listener-sslcontrol#> '],
    ['SET allowedVersions (tls1_2 tls1_3)', '+OK', '<server-pop3-listener-sslcontrol#> '],
    ['SET allowedVersions (tls9)', '-ERR', '<server-pop3-listener-sslcontrol#> '],
    ['DONE', '+OK', '<server-pop3-listener#> '],
    ['COMMIT', '+OK', '<server-pop3#> '],
  ]);
  await waitFor(async () => (await env.status()).services.find((s) => s.name === 'pop3')!.listeners.find((l) => l.key === `127.0.0.1:${port}` && !l.enable), 10_000, 'the listener disabled');
  await script(c, [
    [`SHOW Listener 127.0.0.1:${port} ATTR idleTimeout`, '+OK', '<server-pop3#> '],
    [`SHOW Listener address 127.0.0.1:${port} nonsense`, '-ERR', '<server-pop3#> '],
  ]);
  assert.deepEqual(c.answers[c.answers.length - 2]!.lines, ['idleTimeout = 30']);
  await script(c, [
    [`REMOVE Listener address 127.0.0.1:${port}`, '+OK', '<server-pop3#> '],
    [`REMOVE Listener address 127.0.0.1:${port}`, '-ERR', '<server-pop3#> '],
    ['COMMIT', '+OK', '<server#> '],
    ['COMMIT', '+OK', '<#> '],
  ]);
  await waitFor(async () => !(await env.status()).services.find((s) => s.name === 'pop3')!.listeners.some((l) => l.key === `127.0.0.1:${port}`), 10_000, 'the listener gone');
  c.close();
});

test('SET: several pairs, a bad value refused at once with the config error, SHOW; BACK drops, RESET reverts', async () => {
  const c = await loggedIn(env.port);
  await script(c, [
    ['CONFIG SERVER', '+OK', '<server#> '],
    ['CONFIG POP3', '+OK', '<server-pop3#> '],
    ['SET maxErrors 7 greetingsText "pop3 via the CLI" plainConnAuthTypes (plain login)', '+OK', '<server-pop3#> '],
  ]);
  const bad = await c.cmd('SET maxErrors many');
  assert.equal(bad.status, '-ERR');
  assert.equal(bad.text, 'Server.pop3.maxErrors: expected an unsigned integer, got "many"');
  const unknown = await c.cmd('SET noSuchThing 1');
  assert.match(unknown.text, /unknown attribute 'noSuchThing'/);
  const range = await c.cmd('SET minConnThreads 5');
  assert.match(range.text, /maxConnThreads 1 must be at least minConnThreads 5/);
  const shown = await c.cmd('SHOW');
  assert.ok(shown.lines.includes('maxErrors = 7'), shown.raw);
  assert.ok(shown.lines.includes('greetingsText = "pop3 via the CLI"'), shown.raw);
  assert.ok(shown.lines.includes('plainConnAuthTypes = (plain login)'), shown.raw);
  assert.ok(shown.lines.includes('maxAuthErrors = 3'), 'defaults are shown');
  await script(c, [
    ['RESET', '+OK', '<server-pop3#> '],
    ['SHOW ATTR maxErrors', '+OK', '<server-pop3#> '],
  ]);
  assert.deepEqual(c.answers[c.answers.length - 1]!.lines, ['maxErrors = 10']);
  await script(c, [
    ['SET greetingsText "from the CLI"', '+OK', '<server-pop3#> '],
    ['BACK', '+OK', '<server#> '],
    ['CONFIG POP3', '+OK', '<server-pop3#> '],
    ['SHOW ATTR greetingsText', '+OK', '<server-pop3#> '],
  ]);
  assert.deepEqual(c.answers[c.answers.length - 1]!.lines, ['greetingsText = '], 'dropped by BACK: not set');
  await script(c, [
    ['SET greetingsText "from the CLI"', '+OK', '<server-pop3#> '],
    ['COMMIT', '+OK', '<server#> '],
    ['DONE', '-ERR', '<server#> '],
    ['CONFIG DNR', '+OK', '<server-dnr#> '],
    ['ADD NameServer 127.0.0.1:5353 priority 5', '+OK', '<server-dnr-nameserver#> '],
    ['DONE', '+OK', '<server-dnr#> '],
    ['LIST NameServers', '+OK', '<server-dnr#> '],
  ]);
  assert.deepEqual(c.answers[c.answers.length - 1]!.lines.slice(5, -1), ['127.0.0.1:5353 | 5']);
  await script(c, [
    ['BACK', '+OK', '<server#> '], // the name server is dropped
    ['SHOW Config', '+OK', '<server#> '],
  ]);
  const cfg = c.answers[c.answers.length - 1]!.lines.join('\n');
  assert.match(cfg, /greetingsText = "from the CLI"/);
  assert.doesNotMatch(cfg, /5353/);
  assert.match(await pop3Greeting(env.server.port('pop3')), /^\+OK from the CLI$/);
  await script(c, [['BACK', '+OK', '<#> ']]);
  c.close();
});

test('AccessControl: a deny rule refuses POP3 clients from that address; removing it lets them in', async () => {
  const c = await loggedIn(env.port);
  await script(c, [
    ['CONFIG SERVER', '+OK', '<server#> '],
    ['CONFIG POP3', '+OK', '<server-pop3#> '],
    ['ADD DenyRule 127.0.0.9', '-ERR', '<server-pop3#> '], // the rules are in AccessControl
    ['CONFIG AccessControl', '+OK', '<server-pop3-accesscontrol#> '],
    ['SET greetingsText x', '-ERR', '<server-pop3-accesscontrol#> '], // only the flow limits here
    ['SET peerMaxConnections 50', '+OK', '<server-pop3-accesscontrol#> '],
    ['ADD DenyRule ipSet not-an-ip', '-ERR', '<server-pop3-accesscontrol#> '],
    ['ADD DenyRule ipSet 127.0.0.9 priority 1', '+OK', '<server-pop3-accesscontrol-denyrule#> '],
    ['DONE', '+OK', '<server-pop3-accesscontrol#> '],
    ['LIST DenyRules', '+OK', '<server-pop3-accesscontrol#> '],
  ]);
  assert.deepEqual(c.answers[c.answers.length - 1]!.lines.slice(5, -1), ['127.0.0.9 | yes | 1']);
  await script(c, [
    ['SHOW DenyRule 127.0.0.9', '+OK', '<server-pop3-accesscontrol#> '],
    ['DONE', '+OK', '<server-pop3#> '],
    ['COMMIT', '+OK', '<server#> '],
  ]);
  const pop3 = env.server.port('pop3');
  const refused = await waitFor(async () => {
    const g = await new Promise<string>((resolve) => {
      const s = net.connect({ port: pop3, host: '127.0.0.1', localAddress: '127.0.0.9' });
      let got = '';
      s.setEncoding('utf8');
      s.on('data', (d: string) => (got += d));
      s.on('close', () => resolve(got));
      s.on('error', () => resolve(got));
    });
    return /access denied/.test(g) ? g : null;
  }, 10_000, 'the deny rule applied');
  assert.match(refused, /^-ERR \[SYS\/PERM\] access denied/);
  assert.match(await pop3Greeting(pop3), /^\+OK /, 'other addresses still served');
  await script(c, [
    ['CONFIG POP3', '+OK', '<server-pop3#> '],
    ['CONFIG AccessControl', '+OK', '<server-pop3-accesscontrol#> '],
    ['REMOVE DenyRule 127.0.0.9', '+OK', '<server-pop3-accesscontrol#> '],
    ['COMMIT', '+OK', '<server-pop3#> '],
    ['BACK', '+OK', '<server#> '],
    ['BACK', '+OK', '<#> '],
  ]);
  c.close();
});

test('START/STOP Service at once; SAVE CONFIG writes a file config check accepts, holding the change', async () => {
  const c = await loggedIn(env.port);
  await script(c, [
    ['CONFIG SERVER', '+OK', '<server#> '],
    ['CONFIG POP3', '+OK', '<server-pop3#> '],
    ['STOP Service', '+OK', '<server-pop3#> '],
  ]);
  await waitFor(async () => (await env.status()).services.find((s) => s.name === 'pop3')!.state === 'stopped', 10_000, 'pop3 stopped');
  await script(c, [
    ['START Service', '+OK', '<server-pop3#> '],
    ['START Nothing', '-ERR', '<server-pop3#> '],
    ['SET maxAuthErrors 5', '+OK', '<server-pop3#> '],
    ['COMMIT', '+OK', '<server#> '],
  ]);
  await waitFor(async () => (await env.status()).services.find((s) => s.name === 'pop3')!.state === 'running', 10_000, 'pop3 running');
  const file = path.join(env.dir, 'saved.conf');
  const saved = await c.cmd(`SAVE CONFIG "${file}"`);
  assert.equal(saved.status, '+OK', saved.raw);
  assert.equal(saved.text, `configuration saved to ${file}`);
  const text = fs.readFileSync(file, 'utf8');
  assert.match(text, /maxAuthErrors = 5/);
  const check = await configCheck(file);
  assert.equal(check.code, 0, check.stderr);
  // the default file: <dataDir>/postern.conf; from the root context too
  await script(c, [['BACK', '+OK', '<#> '], ['SAVE Config', '+OK', '<#> ']]);
  assert.match(fs.readFileSync(path.join(env.dir, 'postern.conf'), 'utf8'), /maxAuthErrors = 5/);
  // verbs of the wrong context
  await script(c, [
    ['START Service', '-ERR', '<#> '],
    ['CONFIG POP3', '-ERR', '<#> '],
    ['CONFIG SERVER', '+OK', '<server#> '],
    ['CONFIG NOWHERE', '-ERR', '<server#> '],
    ['START Service', '-ERR', '<server#> '],
    ['LIST Domains', '-ERR', '<server#> '],
    ['BACK', '+OK', '<#> '],
  ]);
  c.close();
});

test('a change the server cannot apply: COMMIT answers the reload\'s error and the running config stays', async () => {
  const port = await freePort();
  const c = await loggedIn(env.port);
  await script(c, [
    ['CONFIG SERVER', '+OK', '<server#> '],
    ['CONFIG POP3', '+OK', '<server-pop3#> '],
    [`ADD Listener 127.0.0.1:${port} sslEnable yes`, '+OK', '<server-pop3-listener#> '],
  ]);
  const r = await c.cmd('COMMIT');
  assert.equal(r.status, '-ERR', r.raw);
  assert.equal(r.prompt, '<server-pop3-listener#> ', 'still in the listener context');
  assert.match(r.text, /sslEnable/);
  await script(c, [['BACK', '+OK', '<server-pop3#> '], ['COMMIT', '+OK', '<server#> '], ['BACK', '+OK', '<#> ']]);
  const pop = (await env.status()).services.find((s) => s.name === 'pop3')!;
  assert.ok(!pop.listeners.some((l) => l.key === `127.0.0.1:${port}`));
  c.close();
});

test('pipelined commands are answered in order; garbage lines are -ERR and the session carries on', async () => {
  const c = await loggedIn(env.port);
  c.send('GET VERSION\r\n'.repeat(300));
  for (let i = 0; i < 300; i++) {
    const a = await c.read();
    assert.equal(a.status, '+OK');
    assert.equal(a.lines.length, 1);
  }
  c.send(Buffer.from([0x00, 0xc3, 0x28, 0xff, 0xfe, 0x01, 0x0d, 0x0a])); // NUL, invalid UTF-8, telnet IAC noise
  const g = await c.read();
  assert.equal(g.status, '-ERR');
  assert.equal(g.prompt, '<#> ');
  assert.equal((await c.cmd('GET VERSION')).status, '+OK');
  c.close();
});

test('HELP in each context lists that context\'s commands; CANCEL drops like BACK', async () => {
  const c = await loggedIn(env.port);
  const want: Array<[string, string, RegExp]> = [
    ['HELP', '<#> ', /^CONFIG SERVER/],
    ['CONFIG SERVER', '<server#> ', /./],
    ['HELP', '<server#> ', /^CONFIG SMTP-INCOMING\|/],
    ['CONFIG POP3', '<server-pop3#> ', /./],
    ['help', '<server-pop3#> ', /^START Service\|STOP Service/],
    ['CONFIG AccessControl', '<server-pop3-accesscontrol#> ', /./],
    ['SET maxConnections 7', '<server-pop3-accesscontrol#> ', /./],
    ['CANCEL', '<server-pop3#> ', /./],
    ['SHOW ATTR maxConnections', '<server-pop3#> ', /^maxConnections = 0$/],
    ['BACK', '<server#> ', /./],
    ['BACK', '<#> ', /./],
    ['ENTER QUEUE', '<queue#> ', /./],
    ['HELP', '<queue#> ', /^LIST \| LIST ID/],
    ['BACK', '<#> ', /./],
  ];
  for (const [line, prompt, first] of want) {
    const a = await c.cmd(line);
    assert.equal(a.status, '+OK', `${line}: ${a.raw}`);
    assert.equal(a.prompt, prompt, line);
    if (a.lines.length > 0) assert.ok(a.lines.some((l) => first.test(l)), `${line}: ${a.raw}`);
  }
  c.close();
});
