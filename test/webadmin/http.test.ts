/**
 * WebAdmin over HTTP with curl (and node's fetch for the event streams): the admin login (wrong
 * password, another user, maxAuthErrors closing the connection, the per-IP ban), the session and
 * CSRF/same-origin guards, every form's error path (the page again with the error, nothing
 * changed), the registry commands behind the pages (service stop/start, domains, accounts,
 * queue, log.tail), and WebAdmin's own options tripped: sseInterval (the live snapshot period),
 * maxEventStreams (one stream too many: 429), maxLogLines (the logs page capped).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import { waitFor } from '../helpers.ts';
import { browser, type Browser } from '../webmail/read-helpers.ts';
import { ADMIN_PW, adminBrowser, popLogin, startAdmin, type AdminEnv } from './helpers.ts';

const SSE_S = 2;
let env: AdminEnv;
let b: Browser;

before(async () => {
  env = await startAdmin({ webadmin: `sseInterval = ${SSE_S} maxEventStreams = 2 maxLogLines = 5` });
  b = await adminBrowser(env.base);
});
after(async () => env?.stop());

const errorOf = (html: string): string => /<p class="error"[^>]*>([^<]*)</.exec(html)?.[1] ?? '';
const noticeOf = (html: string): string => /<p class="notice"[^>]*>([^<]*)</.exec(html)?.[1] ?? '';

test('login: the form; a wrong password, another user, empty fields are refused with the form again; admin gets a session', async () => {
  const c = browser(env.base);
  const form = await c.get('/');
  assert.equal(form.status, 200);
  assert.match(form.text, /<form id="login" method="post" action="\/login">/);
  const wrong = await c.login('admin', 'not it');
  assert.equal(wrong.status, 200);
  assert.match(errorOf(wrong.text), /Wrong user name or password/);
  assert.doesNotMatch(wrong.headers['set-cookie'] ?? '', /postern_session=/);
  const other = await c.login('root', ADMIN_PW);
  assert.match(errorOf(other.text), /Wrong user name or password/);
  const empty = await c.login('admin', '');
  assert.equal(empty.status, 400);
  const ok = await c.login('admin', ADMIN_PW);
  assert.equal(ok.status, 303);
  assert.equal(ok.headers.location, '/dashboard');
  assert.match(ok.headers['set-cookie'] ?? '', /postern_session=[^;]+; Path=\/; HttpOnly; SameSite=Lax/);
  const dash = await c.get('/dashboard');
  assert.equal(dash.status, 200);
  assert.match(dash.text, /<ul class="tree">/);
  assert.match(dash.text, /data-service="pop3"/);
  // logged in: / goes on to the dashboard; logout ends the session
  assert.equal((await c.get('/')).headers.location, '/dashboard');
  const out = await c.post('/logout', []);
  assert.equal(out.status, 303);
  const after = await c.get('/dashboard');
  assert.equal(after.status, 303);
  assert.equal(after.headers.location, '/');
});

test('every page but the login needs the session: GET → 303 to /, POST → 401', async () => {
  const c = browser(env.base);
  for (const p of ['/dashboard', '/events', '/services/pop3', '/domains', '/accounts', '/queue', '/logs', '/report']) {
    const r = await c.get(p);
    assert.equal(r.status, 303, p);
    assert.equal(r.headers.location, '/', p);
  }
  const r = await c.post('/services/pop3/stop', [['_csrf', 'x']]);
  assert.equal(r.status, 401);
});

test('CSRF and same origin: a POST without the token, with a wrong one, or from another site is refused (403) and changes nothing', async () => {
  const before = ((await env.server.admin('domain.list')) as unknown[]).length;
  assert.equal((await b.post('/domains/add', [['name', 'csrf.example'], ['_csrf', '']])).status, 403);
  assert.equal((await b.post('/domains/add', [['name', 'csrf.example'], ['_csrf', 'wrong']])).status, 403);
  assert.equal((await b.post('/domains/add', [['name', 'csrf.example']], ['Origin: http://evil.example'])).status, 403);
  assert.equal((await b.post('/domains/add', [['name', 'csrf.example']], ['Sec-Fetch-Site: cross-site'])).status, 403);
  assert.equal(((await env.server.admin('domain.list')) as unknown[]).length, before);
  // the login form too refuses another site's POST
  const c = browser(env.base);
  assert.equal((await c.login('admin', ADMIN_PW, ['Origin: http://evil.example'])).status, 403);
});

test('maxAuthErrors: the third failed login on one connection is answered with Connection: close', async () => {
  const sock = net.connect(Number(new URL(env.base).port), '127.0.0.1');
  let data = '';
  sock.setEncoding('latin1');
  sock.on('data', (d) => (data += d));
  const closed = new Promise<void>((r) => sock.on('close', () => r()));
  await new Promise<void>((r) => sock.once('connect', () => r()));
  const body = 'username=admin&password=nope';
  const req = `POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
  for (let i = 0; i < 3; i++) {
    sock.write(req);
    await waitFor(() => (data.match(/HTTP\/1\.1 200/g) ?? []).length >= i + 1 && data.endsWith('</html>\n'), 10_000, `answer ${i + 1}`);
  }
  await Promise.race([closed, new Promise((_, rej) => setTimeout(() => rej(new Error('connection not closed')), 10_000))]);
  const answers = data.split(/(?=HTTP\/1\.1 )/);
  assert.equal(answers.length, 3);
  assert.doesNotMatch(answers[0]!, /connection: close/i);
  assert.match(answers[2]!, /connection: close/i);
});

test('service start/stop/restart: pop3 stopped and started through the registry; WebAdmin will not stop itself', async () => {
  const stop = await b.post('/services/pop3/stop', []);
  assert.equal(stop.status, 303);
  assert.equal(env.server.status().services.find((s) => s.name === 'pop3')!.state, 'stopped');
  assert.match(noticeOf((await b.get('/dashboard')).text), /pop3: stop done/);
  const start = await b.post('/services/pop3/start', []);
  assert.equal(start.status, 303);
  assert.equal(env.server.status().services.find((s) => s.name === 'pop3')!.state, 'running');
  env.pop3Port = env.server.port('pop3');
  const dash = await b.get('/dashboard');
  assert.match(dash.text, /action="\/services\/pop3\/stop"/);
  assert.doesNotMatch(dash.text, /action="\/services\/webadmin\/(stop|restart)"/, 'no stop button on WebAdmin itself');
  const self = await b.post('/services/webadmin/stop', []);
  assert.equal(self.status, 400);
  assert.match(errorOf(self.text), /cannot stop itself/);
  assert.equal((await b.post('/services/nosuch/stop', [])).status, 404);
  assert.equal((await b.post('/services/pop3/explode', [])).status, 404);
  const again = await b.post('/services/pop3/start', []);
  assert.equal(again.status, 303);
  assert.match(noticeOf((await b.get('/dashboard')).text), /start failed: SERVICE_RUNNING/);
});

test('service settings: a bad value shows on the form (400), nothing applied; a good one is applied and saved', async () => {
  const page = await b.get('/services/pop3');
  assert.equal(page.status, 200);
  assert.match(page.text, /<form id="settings"/);
  assert.match(page.text, /name="maxErrors" value="10"/);
  const bad = await b.post('/services/pop3/settings', [['maxErrors', 'many'], ['maxConnThreads', '2']]);
  assert.equal(bad.status, 400);
  assert.match(errorOf(bad.text), /CONFIG_TYPE: Server\.pop3\.maxErrors: expected an unsigned integer/);
  assert.match(bad.text, /name="maxErrors" value="many"/, 'the typed value is kept');
  const range = await b.post('/services/pop3/settings', [['minConnThreads', '3'], ['maxConnThreads', '2']]);
  assert.equal(range.status, 400);
  assert.match(errorOf(range.text), /maxConnThreads/);
  const nothing = await b.post('/services/pop3/settings', [['maxErrors', '10']]);
  assert.equal(nothing.status, 400);
  assert.match(errorOf(nothing.text), /Nothing changed/);
  const badLevel = await b.post('/services/pop3/settings', [['logLevel', 'chatty']]);
  assert.equal(badLevel.status, 400);
  assert.match(errorOf(badLevel.text), /CONFIG_TYPE: Server\.pop3\.logLevel/);
  const ok = await b.post('/services/pop3/settings', [['maxErrors', '6'], ['maxAuthErrors', '2']]);
  assert.equal(ok.status, 303, errorOf(ok.text));
  assert.equal(ok.headers.location, '/services/pop3');
  const after = await b.get('/services/pop3');
  assert.match(noticeOf(after.text), /pop3: settings changed; applied and saved to .*postern\.conf/);
  assert.match(after.text, /name="maxErrors" value="6"/);
});

test('a listener\'s own settings: a bad value refused on its form; a good one applied and saved; emptied, back to its default', async () => {
  const form = await b.get('/services/pop3/listeners/0');
  assert.equal(form.status, 200);
  assert.match(form.text, /<form id="listener-settings"/);
  assert.match(form.text, /name="peerMaxConnections" value="100"/);
  assert.doesNotMatch(form.text, /name="address"/);
  const bad = await b.post('/services/pop3/listeners/0/settings', [['idleTimeout', '0']]);
  assert.equal(bad.status, 400);
  assert.match(errorOf(bad.text), /CONFIG_RANGE: Server\.pop3\.listeners\[0\]\.idleTimeout/);
  assert.match(bad.text, /name="idleTimeout" value="0"/);
  const ok = await b.post('/services/pop3/listeners/0/settings', [['peerMaxConnections', '7'], ['idleTimeout', '']]);
  assert.equal(ok.status, 303, errorOf(ok.text));
  assert.equal(ok.headers.location, '/services/pop3/listeners/0');
  const after = await b.get('/services/pop3/listeners/0');
  assert.match(noticeOf(after.text), /listener changed; applied and saved/);
  assert.match(after.text, /name="peerMaxConnections" value="7"/);
  assert.equal((await b.get('/services/pop3/listeners/9')).status, 404);
  assert.equal((await b.get('/services/processing/listeners/0')).status, 404);
  assert.equal((await b.post('/services/pop3/listeners/0/settings', [['peerMaxConnections', '7']])).status, 400, 'nothing changed');
  // back to the default
  assert.equal((await b.post('/services/pop3/listeners/0/settings', [['peerMaxConnections', '']])).status, 303);
  assert.match((await b.get('/services/pop3/listeners/0')).text, /name="peerMaxConnections" value="100" class="default"/);
});

test('WebAdmin edits its own service: applied (a reload of itself) and the session goes on', async () => {
  const r = await b.post('/services/webadmin/settings', [['maxErrors', '20']]);
  assert.equal(r.status, 303, errorOf(r.text));
  const page = await b.get('/services/webadmin');
  assert.equal(page.status, 200);
  assert.match(page.text, /name="maxErrors" value="20"/);
  assert.equal(env.server.status().services.find((s) => s.name === 'webadmin')!.state, 'running');
});

test('listener and rule forms: bad address, duplicate, bad index, bad IP set, bad kind: 400 with the error, nothing applied', async () => {
  const empty = await b.post('/services/pop3/listeners/add', [['address', '']]);
  assert.equal(empty.status, 400);
  assert.match(errorOf(empty.text), /Enter the listener/);
  const bad = await b.post('/services/pop3/listeners/add', [['address', '999.1.1.1:99999']]);
  assert.equal(bad.status, 400);
  assert.match(errorOf(bad.text), /CONFIG_/);
  assert.match(bad.text, /value="999\.1\.1\.1:99999"/);
  const dup = await b.post('/services/pop3/listeners/add', [['address', '127.0.0.1:0']]);
  assert.equal(dup.status, 400);
  assert.match(errorOf(dup.text), /CONFIG_DUPLICATE/);
  const idx = await b.post('/services/pop3/listeners/7/remove', []);
  assert.equal(idx.status, 400);
  assert.equal((await b.post('/services/pop3/listeners/x/remove', [])).status, 400);
  const ip = await b.post('/services/pop3/rules/add', [['kind', 'deny'], ['ipSet', 'not-an-ip']]);
  assert.equal(ip.status, 400);
  assert.match(errorOf(ip.text), /CONFIG_/);
  assert.equal((await b.post('/services/pop3/rules/add', [['kind', 'maybe'], ['ipSet', '10.0.0.0/8']])).status, 400);
  assert.equal((await b.post('/services/pop3/rules/sometimes/0/remove', [])).status, 404);
  assert.equal(env.server.status().services.find((s) => s.name === 'pop3')!.listeners.length, 1, 'nothing applied');
  // a deny rule added (applied: the rule shows on /status), then removed
  const add = await b.post('/services/pop3/rules/add', [['kind', 'deny'], ['ipSet', '192.0.2.0/24'], ['priority', '5']]);
  assert.equal(add.status, 303, errorOf(add.text));
  assert.ok(env.server.status().services.find((s) => s.name === 'pop3')!.rules.some((r) => r.kind === 'deny' && r.ipSet === '192.0.2.0/24'));
  assert.equal((await b.post('/services/pop3/rules/deny/0/remove', [])).status, 303);
  assert.ok(!env.server.status().services.find((s) => s.name === 'pop3')!.rules.some((r) => r.ipSet === '192.0.2.0/24'));
  assert.equal((await b.get('/services/nosuch')).status, 404);
});

test('domains and accounts: create, password, quota, remove; each refusal is shown on its form', async () => {
  assert.equal((await b.post('/domains/add', [['name', 'admin.example'], ['postmasterPassword', 'pm pw']])).status, 303);
  assert.match(noticeOf((await b.get('/domains')).text), /Domain admin\.example added/);
  const badDomain = await b.post('/domains/add', [['name', 'bad domain!']]);
  assert.equal(badDomain.status, 400);
  assert.match(errorOf(badDomain.text), /STORE_BAD_NAME/);
  const dupDomain = await b.post('/domains/add', [['name', 'admin.example']]);
  assert.match(errorOf(dupDomain.text), /STORE_DOMAIN_EXISTS/);
  const add = await b.post('/accounts/add', [['address', 'kim@admin.example'], ['password', 'kim pw'], ['quotaBytes', '1000000'], ['quotaMessages', '']]);
  assert.equal(add.status, 303, errorOf(add.text));
  const list = await b.get('/accounts?domain=admin.example');
  assert.match(list.text, /<tr data-address="kim@admin\.example"><td>kim@admin\.example<\/td><td>0<\/td><td>0<\/td><td>1000000<\/td><td>unlimited<\/td>/);
  const dup = await b.post('/accounts/add', [['address', 'kim@admin.example'], ['password', 'x']]);
  assert.equal(dup.status, 400);
  assert.match(errorOf(dup.text), /STORE_ACCOUNT_EXISTS/);
  const quota = await b.post('/accounts/add', [['address', 'lee@admin.example'], ['password', 'x'], ['quotaBytes', 'lots']]);
  assert.equal(quota.status, 400);
  assert.match(errorOf(quota.text), /quotaBytes must be a whole number/);
  assert.match(quota.text, /name="address" value="lee@admin\.example"/);
  const noDomain = await b.post('/accounts/add', [['address', 'x@nowhere.example'], ['password', 'x']]);
  assert.match(errorOf(noDomain.text), /STORE_NO_SUCH_DOMAIN/);
  assert.equal((await b.post('/accounts/add', [['address', 'y@admin.example'], ['password', '']])).status, 400);
  // quotas changed (account.update): empty is unlimited; a bad number or an unknown account refused
  assert.equal((await b.post('/accounts/quota', [['address', 'kim@admin.example'], ['quotaBytes', ''], ['quotaMessages', '25']])).status, 303);
  assert.match((await b.get('/accounts?domain=admin.example')).text, /<tr data-address="kim@admin\.example"><td>kim@admin\.example<\/td><td>0<\/td><td>0<\/td><td>unlimited<\/td><td>25<\/td>/);
  const badQuota = await b.post('/accounts/quota', [['address', 'kim@admin.example'], ['quotaMessages', '-1']]);
  assert.equal(badQuota.status, 400);
  assert.match(errorOf(badQuota.text), /quotaMessages must be a whole number/);
  assert.match(errorOf((await b.post('/accounts/quota', [['address', 'ghost@admin.example'], ['quotaBytes', '5']])).text), /STORE_NO_SUCH_ACCOUNT/);
  assert.equal((await b.post('/accounts/password', [['address', 'kim@admin.example'], ['password', 'new kim pw']])).status, 303);
  assert.deepEqual(await popLogin(env.server.port('pop3'), 'kim@admin.example', 'new kim pw'), [0, 0]);
  const unknown = await b.post('/accounts/password', [['address', 'nobody@admin.example'], ['password', 'x']]);
  assert.match(errorOf(unknown.text), /STORE_NO_SUCH_ACCOUNT/);
  const notEmpty = await b.post('/domains/remove', [['name', 'admin.example']]);
  assert.equal(notEmpty.status, 400);
  assert.match(errorOf(notEmpty.text), /STORE_DOMAIN_NOT_EMPTY/);
  assert.equal((await b.post('/accounts/remove', [['address', 'kim@admin.example']])).status, 303);
  assert.match(errorOf((await b.post('/accounts/remove', [['address', 'kim@admin.example']])).text), /STORE_NO_SUCH_ACCOUNT/);
});

test('queue: the list, a message shown, retried and deleted; a bad or unknown id is refused', async () => {
  // a message for a domain nobody serves stays queued (its MX lookup fails or defers)
  const { smtpSend } = await import('../webmail/read-helpers.ts');
  await smtpSend(env.server.port('smtpIncoming'), 'x@example.org', 'someone@unroutable.invalid', 'Subject: queued\r\n\r\nhello\r\n');
  const id = await waitFor(async () => ((await env.server.admin('queue.list')) as Array<{ id: string }>)[0]?.id, 10_000, 'a queued message');
  const q = await b.get('/queue');
  assert.equal(q.status, 200);
  assert.match(q.text, new RegExp(`<tr data-id="${id}">`));
  const show = await b.get(`/queue/${id}`);
  assert.equal(show.status, 200);
  assert.match(show.text, /someone@unroutable\.invalid/);
  assert.equal((await b.get('/queue/..%2Fetc')).status, 400);
  const unknown = await b.get('/queue/nosuchid');
  assert.equal(unknown.status, 400);
  assert.match(errorOf(unknown.text), /QUEUE_NO_SUCH_ENTRY/);
  assert.equal((await b.post(`/queue/${id}/retry`, [])).status, 303);
  assert.equal((await b.post('/queue/force', [])).status, 303);
  assert.match(noticeOf((await b.get('/queue')).text), /queued messages are due now|is due now/);
  const del = await b.post(`/queue/${id}/delete`, []);
  assert.equal(del.status, 303);
  assert.deepEqual(await env.server.admin('queue.list'), []);
  assert.match(noticeOf((await b.get('/queue')).text), /deleted from the queue/);
});

test('logs: log.tail filtered by service and level; maxLogLines caps the lines; a bad level or count is 400', async () => {
  // pop3 logs at info (its logLevel): each restart adds records (thread and service started)
  const count = async (): Promise<number> => ((await b.get('/logs?service=pop3&level=info&lines=100')).text.match(/<tr class="level-/g) ?? []).length;
  for (let i = 0; i < 3 && (await count()) < 5; i++) assert.equal((await b.post('/services/pop3/restart', [])).status, 303);
  const r = await b.get('/logs?service=pop3&level=info&lines=100');
  assert.equal(r.status, 200);
  const rows = r.text.match(/<tr class="level-[^\n]*/g) ?? [];
  assert.equal(rows.length, 5, 'maxLogLines = 5');
  assert.match(r.text, /At most 5 lines \(maxLogLines\)/);
  for (const row of rows) assert.match(row, /^<tr class="level-(critical|error|warning|info)"><td>[^<]*<\/td><td>[a-z]+<\/td><td>pop3<\/td>/);
  const few = await b.get('/logs?service=pop3&level=info&lines=2');
  assert.equal((few.text.match(/<tr class="level-/g) ?? []).length, 2);
  const warn = await b.get('/logs?level=warning&lines=5');
  for (const row of warn.text.match(/<tr class="level-[a-z]+">/g) ?? []) assert.match(row, /level-(warning|error|critical)/);
  assert.equal((await b.get('/logs?level=loud')).status, 400);
  assert.equal((await b.get('/logs?lines=-3')).status, 400);
  assert.equal((await b.get('/logs?service=../x')).status, 400);
});

test('reports: a sample taken from the page shows the POP3 logins as a chart; a bad scope or range is 400', async () => {
  await popLogin(env.server.port('pop3'), 'nobody@example.org', 'x').catch(() => {}); // a failed login
  const sample = await b.post('/report/sample', []);
  assert.equal(sample.status, 303);
  const r = await b.get('/report?scope=server&hours=1');
  assert.equal(r.status, 200);
  assert.match(noticeOf(r.text), /Sampled now/);
  assert.doesNotMatch(r.text, /Reporting is not available/);
  const chart = /<figure class="chart" data-counter="POP3_InboundConnection" data-last="(\d+)">\s*<svg[^>]*>(.*?)<\/svg>/s.exec(r.text);
  assert.ok(chart !== null, 'a POP3_InboundConnection chart');
  assert.ok(Number(chart[1]) >= 1, `POP3 connections counted: ${chart[1]}`);
  assert.match(chart[2]!, /<rect class="bar" x="[\d.]+" y="[\d.]+" width="[\d.]+" height="[\d.]+"/);
  assert.equal((await b.get('/report?scope=everything')).status, 400);
  assert.equal((await b.get('/report?hours=5')).status, 400);
});

/** An open event stream: its `status` frames as they come. */
async function stream(cookie: string): Promise<{ status: number; frames: Array<{ seq: number; at: number; got: number }>; close(): void }> {
  const ac = new AbortController();
  const res = await fetch(`${env.base}/events`, { headers: { cookie }, signal: ac.signal });
  const frames: Array<{ seq: number; at: number; got: number }> = [];
  if (res.status === 200 && res.body !== null) {
    void (async () => {
      let buf = '';
      try {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          buf += Buffer.from(chunk).toString('utf8');
          let i: number;
          while ((i = buf.indexOf('\n\n')) >= 0) {
            const frame = buf.slice(0, i);
            buf = buf.slice(i + 2);
            const data = /^event: status\ndata: (.*)$/m.exec(frame);
            if (data !== null) {
              const d = JSON.parse(data[1]!) as { seq: number; at: number; tree: string };
              assert.match(d.tree, /<ul class="tree">/);
              frames.push({ seq: d.seq, at: d.at, got: Date.now() });
            }
          }
        }
      } catch {
        /* aborted */
      }
    })();
  } else await res.text();
  return { status: res.status, frames, close: () => ac.abort() };
}

const cookieOf = (jar: string): string => {
  const line = fs.readFileSync(jar, 'utf8').split('\n').find((l) => l.includes('postern_session'))!;
  return `postern_session=${line.split('\t').at(-1)}`;
};

test('the live stream: a snapshot every sseInterval; maxEventStreams streams per session, one more gets 429', { timeout: 60_000 }, async () => {
  const cookie = cookieOf(b.jar);
  const s1 = await stream(cookie);
  const s2 = await stream(cookie);
  try {
    assert.equal(s1.status, 200);
    assert.equal(s2.status, 200);
    const s3 = await stream(cookie);
    assert.equal(s3.status, 429, 'maxEventStreams = 2');
    await waitFor(() => s1.frames.length >= 3, 20_000, 'three snapshots');
    // consecutive snapshots are sseInterval apart (the server's own clock), the first at once
    for (let i = 1; i < s1.frames.length; i++) {
      assert.equal(s1.frames[i]!.seq, s1.frames[i - 1]!.seq + 1);
      assert.ok(s1.frames[i]!.at - s1.frames[i - 1]!.at >= SSE_S * 1000 - 1200, `snapshot gap ${s1.frames[i]!.at - s1.frames[i - 1]!.at} ms`);
    }
    const span = s1.frames.at(-1)!.at - s1.frames[0]!.at;
    assert.ok(span >= (s1.frames.length - 1) * SSE_S * 1000 - 200, `${s1.frames.length} snapshots in ${span} ms at sseInterval = ${SSE_S}`);
    // one stream closed: another may open
    s2.close();
    const s4 = await waitFor(async () => {
      const s = await stream(cookie);
      if (s.status === 200) return s;
      return null;
    }, 10_000, 'a stream after one closed');
    s4.close();
  } finally {
    s1.close();
    s2.close();
  }
});

test('the admin password unset: every login fails; the per-IP ban (authBanThreshold) refuses new connections', async () => {
  const other = await startAdmin({ webadmin: 'authBanThreshold = 3 authBanTime = 600', noPassword: true });
  try {
    const c = browser(other.base);
    // no admin password: even the one the other server has is wrong here
    for (let i = 0; i < 3; i++) assert.match(errorOf((await c.login('admin', i === 0 ? ADMIN_PW : `guess-${i}`)).text), /Wrong user name or password/);
    const refused = await c.login('admin', ADMIN_PW);
    assert.equal(refused.status, 403);
    assert.doesNotMatch(refused.headers['set-cookie'] ?? '', /postern_session=/);
  } finally {
    await other.stop();
  }
});

test('chartBars: a bar per bucket above 0, in proportion to the largest; nulls and zeros draw nothing', async () => {
  const { chartBars } = await import('../../src/protocols/webadmin/operations.ts');
  const c = chartBars([null, 0, 2, 4], 100, 40);
  assert.equal(c.max, 4);
  assert.equal(c.last, 4);
  assert.deepEqual(c.bars.map((b) => [b.x, b.height]), [['50.00', '20.00'], ['75.00', '40.00']]);
  assert.deepEqual(chartBars([null, null], 100, 40), { bars: [], max: 0, last: null });
});
