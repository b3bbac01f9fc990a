/**
 * test/cli/python.test.ts: the CLI driven by a Python 3 script written the way the seed's own
 * clients are (a plain socket, no telnetlib; read until the last line is a `<…> ` prompt before
 * login, and until the regex `((\+OK)|(-ERR)):.*\r\n<([A-Za-z0-9\-]*#?)> ` after; the status
 * is the line before the prompt; LIST rows between the 5 header lines and the 3 last lines;
 * SHOW's `name = value` lines; GET VERSION's `fullversion|os|platform`). It runs the seed
 * example (CONFIG SERVER, CONFIG POP3, ADD LISTENER, COMMIT, COMMIT), creates a domain and an
 * account, saves the config, and makes the errors (wrong password, unknown command, wrong
 * context, bad value); then poplib logs in to the new account on the new listener. The script
 * asserts the regex on every answer after login and reports what it read.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { freePort, waitFor } from '../helpers.ts';
import { ADMIN_PASSWORD, python, startCli, type CliEnv } from './helpers.ts';

let env: CliEnv;

before(async () => {
  env = await startCli({ services: ['pop3'], blocks: 'pop3 = { listeners = ( { address = 127.0.0.1:0 } ) minConnThreads = 1 maxConnThreads = 1 }' });
});
after(async () => {
  await env?.stop();
});

const SCRIPT = String.raw`
import json, re, socket, sys, poplib
host, port, password, newport, savepath = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5]
CRLF = '\r\n'
RE = re.compile(r'(((\+OK)|(-ERR)):.*)\r\n\<([A-Za-z0-9\-]*#?)\> ')
sock = socket.create_connection((host, port), timeout=20)
noauth = True
answers = []

def get():
    buf = ''
    while True:
        d = sock.recv(4096).decode('utf-8')
        if not d:
            break
        buf += d
        lines = buf.split(CRLF)
        if noauth:
            if lines[-1].startswith('<') and lines[-1].endswith('> '):
                break
        elif RE.search(buf):
            break
    if not noauth:
        assert RE.search(buf) and buf.endswith('> '), 'not a seed answer: %r' % buf
    answers.append(buf)
    return buf

def cmd(s):
    sock.sendall((s + CRLF).encode('utf-8'))
    return get()

def status(r):
    lines = r.split(CRLF)
    last = lines[-2]
    return ('+OK' if last.startswith('+OK') else '-ERR', last.split(': ', 1)[1] if ': ' in last else '', lines[-1])

out = {}
banner = get()
out['banner_prompt'] = banner.split(CRLF)[-1]
v = cmd('GET VERSION')
fver = v.split(CRLF)[0].split('|')
out['version'] = {'fullversion': fver[0], 'version': fver[0].split()[0], 'os': fver[1], 'platform': fver[2]}
out['user'] = status(cmd('USER admin'))
out['wrong_password'] = status(cmd('not-the-password'))
cmd('USER admin')
out['login'] = status(cmd(password))
noauth = False
steps = [
    'CONFIG SERVER', 'CONFIG POP3', 'ADD LISTENER address 127.0.0.1:%d' % newport, 'COMMIT', 'COMMIT',
    'SAVE CONFIG "%s"' % savepath, 'BACK',
    'CREATE Domain name "py.test" domainLocation "/var/opt/axigen/domains/py.test" postmasterPassword "pm-py"', 'COMMIT',
    'UPDATE Domain name py.test', 'ADD Account name "carol" password "carol secret"', 'COMMIT', 'COMMIT',
    'FROBNICATE', 'COMMIT', 'CONFIG SERVER', 'CONFIG POP3', 'SET maxErrors "a lot"', 'BACK', 'BACK',
]
out['steps'] = [[s] + list(status(cmd(s))) for s in steps]
r = cmd('LIST DOMAINS')
out['domains'] = [l.strip() for l in r.split(CRLF)[5:-3]]
cmd('UPDATE Domain py.test')
r = cmd('LIST ACCOUNTS')
out['accounts'] = [l.strip().lower() for l in r.split(CRLF)[5:-3]]
cmd('BACK')
cmd('CONFIG SERVER')
cmd('CONFIG POP3')
r = cmd('SHOW')
d = {}
for line in r.split(CRLF)[2:-3]:
    if ' = ' in line:
        d[line.split(' = ')[0]] = line.split(' = ')[1]
out['show'] = d
r = cmd('SHOW ATTR maxErrors')
out['show_attr'] = r.split(CRLF)[0].split(' = ')[1]
cmd('BACK')
cmd('BACK')
sock.sendall(b'EXIT\r\n')
bye = b''
while True:
    d = sock.recv(4096)
    if not d:
        break
    bye += d
out['exit'] = bye.decode()
out['answers'] = len(answers)
p = poplib.POP3(host, newport, timeout=20)
p.user('carol@py.test')
out['pop3'] = p.pass_('carol secret').decode()
p.quit()
print(json.dumps(out))
`;

test('a seed-style Python client: the example, a domain and an account, SAVE CONFIG and the errors', async () => {
  const newport = await freePort();
  const save = path.join(env.dir, 'py-saved.conf');
  const out = await python(SCRIPT, ['127.0.0.1', String(env.port), ADMIN_PASSWORD, String(newport), save]);
  assert.equal(out.banner_prompt, '<login> ');
  assert.match(out.version.version, /^\d+\.\d+\.\d+$/);
  assert.equal(out.version.fullversion, `${out.version.version} (Postern)`);
  assert.deepEqual(out.user, ['+OK', 'enter the password', '<password> ']);
  assert.deepEqual(out.wrong_password, ['-ERR', 'authentication failed', '<login> ']);
  assert.deepEqual(out.login, ['+OK', 'authentication successful', '<#> ']);
  const steps: Array<[string, string, string, string]> = out.steps;
  const expect: Array<[string, string]> = [
    ['+OK', '<server#> '], ['+OK', '<server-pop3#> '], ['+OK', '<server-pop3-listener#> '], ['+OK', '<server-pop3#> '], ['+OK', '<server#> '],
    ['+OK', '<server#> '], ['+OK', '<#> '],
    ['+OK', '<domain-create#> '], ['+OK', '<#> '],
    ['+OK', '<domain#> '], ['+OK', '<domain-account#> '], ['+OK', '<domain#> '], ['+OK', '<#> '],
    ['-ERR', '<#> '], ['-ERR', '<#> '], ['+OK', '<server#> '], ['+OK', '<server-pop3#> '], ['-ERR', '<server-pop3#> '], ['+OK', '<server#> '], ['+OK', '<#> '],
  ];
  assert.deepEqual(steps.map(([, st, , p]) => [st, p]), expect, JSON.stringify(steps, null, 1));
  assert.match(steps[13]![2], /unknown command FROBNICATE/);
  assert.match(steps[14]![2], /COMMIT is not available in this context/);
  assert.equal(steps[17]![2], 'Server.pop3.maxErrors: expected an unsigned integer, got "a lot"');
  assert.ok(out.domains.includes('py.test'), JSON.stringify(out.domains));
  assert.deepEqual(out.accounts, ['carol', 'postmaster']);
  assert.equal(out.show.maxErrors, '10');
  assert.equal(out.show_attr, '10');
  assert.equal(out.exit, '+OK: have a nice day\r\n');
  assert.match(out.pop3, /^\+OK/);
  assert.ok(out.answers > 30);
  // the saved file holds the new listener
  assert.match(fs.readFileSync(save, 'utf8'), new RegExp(`address = 127\\.0\\.0\\.1:${newport}`));
  await waitFor(async () => (await env.status()).services.find((s) => s.name === 'pop3')!.listeners.some((l) => l.key === `127.0.0.1:${newport}` && l.listening), 5000, 'the listener on /status');
});
