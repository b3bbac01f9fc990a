/**
 * test/cli/session.test.ts: the CLI session over raw sockets: banner and prompts, the login
 * (USER, <password>, the admin's password from the store), the verbs of the login context
 * (HELP, GET VERSION, SET QUIET, SET CONSOLE-CODES, SHOW, EXIT/QUIT), case-insensitive verbs,
 * quoting, and every error: unknown command, a verb of another context, a bad argument, a
 * syntax error, a wrong password, maxErrors and maxAuthErrors tripped, maxAuthCommands
 * tripped, a line over maxCommandLength, the idle timeout, the per-IP login ban
 * (authBanThreshold), telnet option negotiation refused, an implicit-TLS listener. The seed regex is asserted on every
 * answer (helpers.ts).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import tls from 'node:tls';
import { makeCert } from '../ftp/helpers.ts';
import { tmpDir, waitFor } from '../helpers.ts';
import { ADMIN_PASSWORD, connectCli, loggedIn, script, startCli, type CliEnv } from './helpers.ts';

let env: CliEnv;

before(async () => {
  env = await startCli({
    cli: 'maxErrors = 4 maxAuthErrors = 2 maxCommandLength = 64 maxAuthCommands = 12 authBanThreshold = 4 authBanTime = 600 greetingsText = "Postern CLI test"',
    blocks: '',
    listener: '',
  });
});
after(async () => {
  await env?.stop();
});

test('banner, login, the login context\'s verbs, and EXIT', async () => {
  const c = await connectCli(env.port);
  assert.equal(c.banner.status, '+OK');
  assert.equal(c.banner.text, 'Postern CLI test');
  assert.equal(c.banner.prompt, '<login> ');
  const v = await c.cmd('get version');
  assert.equal(v.status, '+OK');
  assert.match(v.lines[0]!, /^\d+\.\d+\.\d+ \(Postern\)\|[^|]+\|[^|]+$/, 'fullversion|os|platform');
  const h = await c.cmd('HELP');
  assert.ok(h.lines.some((l) => l.startsWith('USER')), h.raw);
  await script(c, [
    ['SET QUIET on', '+OK', '<login> '],
    ['set console-codes OFF', '+OK', '<login> '],
    ['SET QUIET maybe', '-ERR', '<login> '],
  ]);
  const sh = await c.cmd('SHOW');
  assert.deepEqual(sh.lines, ['quiet = on', 'console-codes = off']);
  await script(c, [
    ['CONFIG SERVER', '-ERR', '<login> '], // a verb of another context: not before login
    ['USER admin', '+OK', '<password> '],
    [ADMIN_PASSWORD, '+OK', '<#> '],
    ['Get Version', '+OK', '<#> '],
  ]);
  const bye = await c.cmd('exit');
  assert.equal(bye.raw, '+OK: have a nice day\r\n');
  await c.closed;
  const q = await loggedIn(env.port);
  assert.equal((await q.cmd('QUIT')).text, 'have a nice day');
  await q.closed;
});

test('unknown commands, verbs of another context, bad arguments and syntax errors are -ERR and counted; maxErrors closes', async () => {
  const c = await loggedIn(env.port);
  const a = await c.cmd('FROB the server');
  assert.equal(a.status, '-ERR');
  assert.match(a.text, /unknown command FROB/);
  assert.equal(a.prompt, '<#> ');
  const b = await c.cmd('COMMIT');
  assert.match(b.text, /not available in this context/);
  const d = await c.cmd('CONFIG "unterminated');
  assert.match(d.text, /syntax error: unterminated double quote/);
  // the 4th error (maxErrors = 4) closes the session with the error
  const e = await c.cmd('LIST nothing');
  assert.equal(e.status, '-ERR');
  assert.equal(e.prompt, '');
  assert.match(e.text, /too many errors/);
  await c.closed;
});

test('a line over maxCommandLength is -ERR, counted, and the session carries on', async () => {
  const c = await loggedIn(env.port);
  const long = await c.cmd(`LIST Domains ${'x'.repeat(200)}`);
  assert.equal(long.status, '-ERR');
  assert.match(long.text, /command line too long \(at most 64 bytes\)/);
  assert.equal(long.prompt, '<#> ');
  const ok = await c.cmd('LIST Domains');
  assert.equal(ok.status, '+OK');
  // three more errors: the fourth error closes (the long line was the first)
  await script(c, [['x1', '-ERR', '<#> '], ['x2', '-ERR', '<#> ']]);
  const last = await c.cmd('x3');
  assert.equal(last.prompt, '');
  await c.closed;
});

test('a wrong password is -ERR back at <login>; maxAuthErrors closes the session', async () => {
  const c = await connectCli(env.port, '127.0.0.1', '127.0.0.2');
  await script(c, [
    ['USER admin', '+OK', '<password> '],
    ['wrong', '-ERR', '<login> '],
    ['USER nobody', '+OK', '<password> '],
  ]);
  const last = await c.cmd(ADMIN_PASSWORD); // not admin: fails like a wrong password
  assert.equal(last.status, '-ERR');
  assert.match(last.text, /too many failed authentications/);
  assert.equal(last.prompt, '');
  await c.closed;
});

test('the per-IP login ban (authBanThreshold) refuses the next connection from that address', async () => {
  for (let i = 0; i < 2; i++) {
    const c = await connectCli(env.port, '127.0.0.1', '127.0.0.4');
    await script(c, [['USER admin', '+OK', '<password> '], ['bad-1', '-ERR', '<login> '], ['USER admin', '+OK', '<password> ']]);
    await c.cmd('bad-2');
    await c.closed;
  }
  const banned = await connectCli(env.port, '127.0.0.1', '127.0.0.4');
  assert.equal(banned.banner.status, '-ERR');
  assert.match(banned.banner.text, /too many failed logins from your address/);
  await banned.closed;
  // another address is not banned
  const other = await loggedIn(env.port);
  other.close();
  const s = (await env.status()).services.find((x) => x.name === 'cli')!;
  assert.ok((s.logins?.bans ?? 0) >= 1, JSON.stringify(s.logins));
});

test('maxAuthCommands: commands before login are bounded', async () => {
  const c = await connectCli(env.port);
  for (let i = 0; i < 12; i++) assert.equal((await c.cmd('GET VERSION')).status, '+OK');
  const last = await c.cmd('GET VERSION');
  assert.equal(last.status, '-ERR');
  assert.match(last.text, /too many commands before login/);
  await c.closed;
});

test('quoting: escaped, single and double quoted arguments; verbs in any case', async () => {
  const c = await loggedIn(env.port);
  await script(c, [
    ['create domain name \'quoted.example\' postmasterPassword "p w\\"x"', '+OK', '<domain-create#> '],
    ['SHOW', '+OK', '<domain-create#> '],
  ]);
  const shown = c.answers[c.answers.length - 1]!;
  assert.ok(shown.lines.includes('name = quoted.example'), shown.raw);
  await script(c, [
    ['commit', '+OK', '<#> '],
    ['UPDATE Domain quoted.example', '+OK', '<domain#> '],
    ['ADD Account name sp\\ ace password \'a "b" c\'', '+OK', '<domain-account#> '],
    ['COMMIT', '-ERR', '<domain-account#> '], // a space is not allowed in an account name: the store's error
    ['BACK', '+OK', '<domain#> '],
    ['ADD Account name "ann" password \'a "b" c\'', '+OK', '<domain-account#> '],
    ['COMMIT', '+OK', '<domain#> '],
  ]);
  const ls = await c.cmd('LIST Accounts a*');
  assert.deepEqual(ls.lines.slice(5, -1), ['ann']);
  c.close();
});

test('the idle timeout closes a silent session with -ERR, and a client that does not read its answers', async () => {
  const idle = await startCli({ listener: 'idleTimeout = 1' });
  try {
    const c = await connectCli(idle.port);
    const a = await c.read(10_000);
    assert.equal(a.status, '-ERR');
    assert.match(a.text, /idle timeout/);
    await c.closed;
    // a client that sends and never reads: its output is bounded (maxPendingOutput), reading
    // stops, and it is closed when it has not drained within the idleTimeout; others carry on
    const flood = await loggedIn(idle.port);
    flood.socket.pause();
    flood.send('HELP\r\n'.repeat(20_000));
    const other = await loggedIn(idle.port);
    assert.equal((await other.cmd('GET VERSION')).status, '+OK');
    other.close();
    // (the paused client cannot see the close: the listener's figures say it)
    await waitFor(async () => {
      const l = (await idle.status()).services.find((x) => x.name === 'cli')!.listeners[0]!;
      return (l.refused['idle_timeout'] ?? 0) >= 2 && l.open === 0;
    }, 20_000, 'the flooding client closed for not reading');
    flood.close();
  } finally {
    await idle.stop();
  }
});

test('telnet option negotiation is refused and stripped; the command still runs', async () => {
  const c = await connectCli(env.port);
  c.send(Buffer.from([255, 253, 1, 255, 251, 31])); // IAC DO ECHO, IAC WILL NAWS
  c.send('GET VERSION\r\n');
  const a = await c.read();
  const bytes = Buffer.from(a.raw, 'utf8');
  assert.ok(a.raw.startsWith('\ufffd'), 'the refusals (IAC WONT ECHO, IAC DONT NAWS) come first');
  assert.ok(bytes.includes(Buffer.from('\u0001')) && bytes.includes(Buffer.from('\u001f')), 'both options refused');
  assert.equal(a.status, '+OK');
  assert.match(a.lines[a.lines.length - 1]!, /\(Postern\)\|/);
  c.close();
});

test('a TLS listener: implicit TLS (sslEnable), the same banner, login and answers', async () => {
  const { cert, key } = makeCert(tmpDir('postern-cli-tls-'));
  const secure = await startCli({ listener: `sslEnable = yes sslControl = { certFile = "${cert}" keyFile = "${key}" }` });
  try {
    const socket = tls.connect({ port: secure.port, host: '127.0.0.1', rejectUnauthorized: false });
    let buf = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (buf += d));
    /** The answer matching `re`, as soon as it has arrived. */
    const until = (re: RegExp): Promise<string> => new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no ${String(re)} within 10 s; got ${JSON.stringify(buf)}`)), 10_000);
      const check = (): void => {
        if (!re.test(buf)) return;
        clearTimeout(t);
        socket.off('data', check);
        const got = buf;
        buf = '';
        resolve(got);
      };
      socket.on('data', check);
      check();
    });
    await until(/^\+OK: .*\r\n<login> $/);
    assert.equal(socket.getProtocol()?.startsWith('TLSv1.'), true);
    socket.write('USER admin\r\n');
    await until(/<password> $/);
    socket.write(`${ADMIN_PASSWORD}\r\n`);
    await until(/^\+OK: authentication successful\r\n<#> $/);
    socket.write('EXIT\r\n');
    await until(/^\+OK: have a nice day\r\n$/);
    socket.destroy();
  } finally {
    await secure.stop();
  }
});
