/**
 * Web sessions as a browser meets them (http/sessions.ts over http/session-table.ts), spoken
 * with curl over real sockets, each request on a new connection, to the session pieces mounted
 * on a bare fastify (test/http/standalone.ts; the table's clock is injected): the cookie's
 * attributes with and without TLS; a cookie made on one connection works on another; no session
 * → 303 for a GET, 401 otherwise; idle and activity expiry; CSRF missing, wrong or another
 * session's → 403; cross-site POSTs (Origin, Sec-Fetch-Site) → 403, login included; login
 * rotates the session; logout clears it; a malformed or unknown cookie is no session.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { standalone, type Standalone } from './standalone.ts';
import { curl, cookieOf, type CurlReply } from './curl.ts';
import { selfSignedCert } from '../probed.ts';
import { tmpDir } from '../helpers.ts';
import { setupTestApp, TEMPLATES } from '../fixtures/http-app/index.ts';
import { sessionCookie, sessionIdOf } from '../../src/http/sessions.ts';

let plain: Standalone;
let tls: Standalone;
before(async () => {
  plain = await standalone({ setup: setupTestApp, templates: TEMPLATES, options: { sessionIdleTimeoutMs: 60_000, sessionActivityTimeoutMs: 600_000 } });
  tls = await standalone({ setup: setupTestApp, templates: TEMPLATES, tls: selfSignedCert(tmpDir('postern-sessions-')) });
});
after(async () => {
  await plain?.close();
  await tls?.close();
});

async function login(s: Standalone, user: string, extra: string[] = []): Promise<{ r: CurlReply; cookie: string; csrf: string }> {
  const r = await curl(`${s.url}/login`, ['--data-urlencode', `username=${user}`, ...extra]);
  assert.equal(r.status, 200, r.body);
  const cookie = cookieOf(r);
  assert.ok(cookie, 'a session cookie');
  return { r, cookie, csrf: (JSON.parse(r.body) as { csrf: string }).csrf };
}

const attrs = (r: CurlReply): string[] => (r.headers['set-cookie']![0]!).split(';').map((a) => a.trim());

test('the cookie: HttpOnly, SameSite=Lax, Path=/, a 32-byte id; Secure only over TLS', async () => {
  const p = await login(plain, 'alice@example.org');
  const a = attrs(p.r);
  assert.match(a[0]!, /^postern_session=[A-Za-z0-9_-]{43}$/);
  for (const want of ['HttpOnly', 'SameSite=Lax', 'Path=/']) assert.ok(a.includes(want), `${want} in ${a.join('; ')}`);
  assert.ok(!a.includes('Secure'), 'no Secure on a plain connection');
  const t = await login(tls, 'alice@example.org');
  const b = attrs(t.r);
  for (const want of ['HttpOnly', 'SameSite=Lax', 'Path=/', 'Secure']) assert.ok(b.includes(want), `${want} in ${b.join('; ')}`);
  const m = await curl(`${tls.url}/mail`, ['-H', `Cookie: ${t.cookie}`]);
  assert.equal(m.status, 200);
});

test('a cookie made on one connection works on another; none → GET 303 to /, POST 401', async () => {
  const { cookie } = await login(plain, 'bob@example.org');
  for (let i = 0; i < 3; i++) {
    const r = await curl(`${plain.url}/mail`, ['-H', `Cookie: other=1; ${cookie}`]);
    assert.equal(r.status, 200);
    assert.equal(JSON.parse(r.body).user, 'bob@example.org');
  }
  const g = await curl(`${plain.url}/mail`);
  assert.equal(g.status, 303);
  assert.equal(g.header('location'), '/');
  const p = await curl(`${plain.url}/action`, ['-X', 'POST', '--data', 'x=1']);
  assert.equal(p.status, 401);
  for (const bad of ['postern_session=short', `postern_session=${'A'.repeat(43)}`, 'postern_session=../../etc/passwd']) {
    const r = await curl(`${plain.url}/mail`, ['-H', `Cookie: ${bad}`]);
    assert.equal(r.status, 303, bad);
  }
});

test('idle expiry: unused past sessionIdleTimeout the cookie no longer works; use keeps it alive', async () => {
  const { cookie } = await login(plain, 'idle@example.org');
  plain.advance(50_000);
  assert.equal((await curl(`${plain.url}/mail`, ['-H', `Cookie: ${cookie}`])).status, 200);
  plain.advance(50_000); // 100 s since login, 50 s since last use: alive
  assert.equal((await curl(`${plain.url}/mail`, ['-H', `Cookie: ${cookie}`])).status, 200);
  plain.advance(60_000);
  const r = await curl(`${plain.url}/mail`, ['-H', `Cookie: ${cookie}`]);
  assert.equal(r.status, 303);
  assert.equal((await curl(`${plain.url}/`, ['-H', `Cookie: ${cookie}`])).body, '{"user":null}');
});

test('activity expiry: past sessionActivityTimeout a busy session ends', async () => {
  const { cookie } = await login(plain, 'busy@example.org');
  for (let t = 0; t < 600_000 - 50_000; t += 50_000) {
    plain.advance(50_000);
    assert.equal((await curl(`${plain.url}/mail`, ['-H', `Cookie: ${cookie}`])).status, 200, `at ${t + 50_000} ms`);
  }
  plain.advance(50_000);
  assert.equal((await curl(`${plain.url}/mail`, ['-H', `Cookie: ${cookie}`])).status, 303);
});

test('CSRF: a state-changing request without the token, with a wrong one or another session\'s → 403', async () => {
  const { cookie, csrf } = await login(plain, 'carol@example.org');
  const other = await login(plain, 'dave@example.org');
  const post = (args: string[]) => curl(`${plain.url}/action`, ['-H', `Cookie: ${cookie}`, ...args]);
  assert.equal((await post(['--data', 'x=1'])).status, 403);
  assert.equal((await post(['--data', '_csrf=wrong'])).status, 403);
  assert.equal((await post(['--data', `_csrf=${csrf.slice(0, -1)}B`])).status, 403);
  assert.equal((await post(['--data-urlencode', `_csrf=${other.csrf}`])).status, 403);
  assert.equal((await post(['-H', `x-csrf-token: ${other.csrf}`, '--data', 'x=1'])).status, 403);
  const ok = await post(['--data-urlencode', `_csrf=${csrf}`]);
  assert.equal(ok.status, 200);
  assert.equal(ok.body, '{"done":true}');
  assert.equal((await post(['-H', `x-csrf-token: ${csrf}`, '-X', 'POST'])).status, 200);
  assert.equal((await post(['--data-urlencode', `_csrf=${csrf}`, '--data-urlencode', `_csrf=${csrf}`])).status, 200, 'a repeated field: the first');
});

test('same origin: a cross-site Origin or Sec-Fetch-Site refuses the POST (403), login included', async () => {
  const { cookie, csrf } = await login(plain, 'erin@example.org');
  const post = (args: string[]) => curl(`${plain.url}/action`, ['-H', `Cookie: ${cookie}`, '--data-urlencode', `_csrf=${csrf}`, ...args]);
  assert.equal((await post(['-H', 'Origin: http://evil.example'])).status, 403);
  assert.equal((await post(['-H', `Origin: https://127.0.0.1:${plain.port}`])).status, 403, 'another scheme');
  assert.equal((await post(['-H', `Origin: http://127.0.0.1:${plain.port + 1}`])).status, 403, 'another port');
  assert.equal((await post(['-H', 'Origin: null'])).status, 403);
  assert.equal((await post(['-H', 'Sec-Fetch-Site: cross-site'])).status, 403);
  assert.equal((await post(['-H', `Origin: http://127.0.0.1:${plain.port}`, '-H', 'Sec-Fetch-Site: same-origin'])).status, 200);
  assert.equal((await post(['-H', `Origin: HTTP://127.0.0.1:${plain.port}`])).status, 200, 'the scheme and host compared as URLs');
  // a GET is never refused for its origin
  assert.equal((await curl(`${plain.url}/mail`, ['-H', `Cookie: ${cookie}`, '-H', 'Sec-Fetch-Site: cross-site'])).status, 200);
  // a cross-site login is refused and makes no session
  const before = plain.table.size;
  const l = await curl(`${plain.url}/login`, ['--data', 'username=mallory@example.org', '-H', 'Origin: http://evil.example']);
  assert.equal(l.status, 403);
  assert.equal(cookieOf(l), null);
  assert.equal(plain.table.size, before);
  // over TLS the own origin is https
  const t = await login(tls, 'erin@example.org');
  const tp = (origin: string) => curl(`${tls.url}/action`, ['-H', `Cookie: ${t.cookie}`, '-H', `x-csrf-token: ${t.csrf}`, '-H', `Origin: ${origin}`, '-X', 'POST']);
  assert.equal((await tp(`https://127.0.0.1:${tls.port}`)).status, 200);
  assert.equal((await tp(`http://127.0.0.1:${tls.port}`)).status, 403);
});

test('login rotates the session (the old cookie ends); logout clears the cookie and ends the session', async () => {
  const first = await login(plain, 'frank@example.org');
  const second = await login(plain, 'frank@example.org', ['-H', `Cookie: ${first.cookie}`]);
  assert.notEqual(second.cookie, first.cookie);
  assert.equal((await curl(`${plain.url}/mail`, ['-H', `Cookie: ${first.cookie}`])).status, 303);
  assert.equal((await curl(`${plain.url}/mail`, ['-H', `Cookie: ${second.cookie}`])).status, 200);
  assert.equal((await curl(`${plain.url}/logout`, ['-H', `Cookie: ${second.cookie}`, '-X', 'POST'])).status, 403, 'logout needs the token');
  const out = await curl(`${plain.url}/logout`, ['-H', `Cookie: ${second.cookie}`, '-H', `x-csrf-token: ${second.csrf}`, '-X', 'POST']);
  assert.equal(out.status, 200);
  const a = attrs(out);
  assert.equal(a[0], 'postern_session=');
  assert.ok(a.includes('Max-Age=0'));
  assert.equal((await curl(`${plain.url}/mail`, ['-H', `Cookie: ${second.cookie}`])).status, 303);
});

test('the Cookie header: only well-formed session ids, deduplicated, at most four looked up', () => {
  const id = (c: string) => c.repeat(43);
  assert.deepEqual(sessionIdOf(undefined), []);
  assert.deepEqual(sessionIdOf(`a=1; postern_session=${id('A')}; b=2`), [id('A')]);
  assert.deepEqual(sessionIdOf(`postern_session="${id('B')}"`), [id('B')]);
  assert.deepEqual(sessionIdOf(`postern_session=${id('A')}; postern_session=${id('A')}; postern_session=bad; xpostern_session=${id('C')}`), [id('A')]);
  assert.deepEqual(sessionIdOf(['postern_session=' + id('A'), 'postern_session=' + id('B')]), [id('A'), id('B')]);
  const many = Array.from({ length: 50 }, (_, i) => `postern_session=${String(i).padStart(43, 'x')}`).join('; ');
  assert.equal(sessionIdOf(many).length, 4);
  assert.equal(sessionCookie('abc', true), 'postern_session=abc; Path=/; HttpOnly; SameSite=Lax; Secure');
  assert.equal(sessionCookie('abc', false), 'postern_session=abc; Path=/; HttpOnly; SameSite=Lax');
});
