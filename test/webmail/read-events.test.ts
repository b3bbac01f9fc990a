/**
 * WebMail's live list over real sockets: `GET /events?f=INBOX` (server-sent events, read by
 * curl -N with the session's cookie) gets `exists` with the new row when a message is delivered
 * over SMTP (smtplib), `flags` and `counts` when reading it sets \Seen; the stream ends when the
 * client goes away, and the server goes on serving; an open stream alone does not keep a session
 * alive (it ends after sessionIdleTimeout, and the browser's reconnect finds the session gone).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { browser, smtpSend, startReadServer, type ReadEnv } from './read-helpers.ts';

let env: ReadEnv;
const ANN = 'ann@example.org';
const PW = 'ann-secret';

before(async () => {
  env = await startReadServer();
  await env.addUser(ANN, PW);
});
after(async () => {
  await env?.stop();
});

/** curl -N on /events: the text so far, and a wait for a pattern in it. */
function stream(url: string, jar: string): { child: ChildProcess; text: () => string; until(re: RegExp, timeoutMs?: number): Promise<RegExpExecArray> } {
  const child = spawn('curl', ['-sS', '-N', '-b', jar, url], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const waiters: Array<() => void> = [];
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString('utf8');
    for (const w of waiters.splice(0)) w();
  });
  const until = (re: RegExp, timeoutMs = 20_000): Promise<RegExpExecArray> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${re} in ${JSON.stringify(out)}`)), timeoutMs);
      const check = (): void => {
        const m = re.exec(out);
        if (m !== null) {
          clearTimeout(timer);
          resolve(m);
        } else waiters.push(check);
      };
      check();
    });
  return { child, text: () => out, until };
}

test('server-sent events: a message delivered over SMTP arrives as `exists` with its row; reading it sends `flags` and `counts`', async () => {
  const b = browser(env.base);
  assert.equal((await b.login(ANN, PW)).status, 303);
  const list = await b.get('/mail?f=INBOX');
  assert.match(list.text, /<script src="\/static\/list\.js" defer><\/script>/);
  assert.match(list.text, /<table id="messages" data-folder="INBOX" data-live="1">/);
  const s = stream(`${env.base}/events?f=INBOX`, b.jar);
  try {
    await s.until(/^retry: \d+$/m); // subscribed: what is delivered from now on is pushed
    await smtpSend(env.smtpPort, 'carol@c.test', ANN, `From: Carol <carol@c.test>\r\nTo: ${ANN}\r\nSubject: live one\r\n\r\nhello\r\n`);
    const m = await s.until(/event: exists\ndata: (.*)\n\n/);
    const d = JSON.parse(m[1]!) as { uid: number; row: { uid: number; from: string; subject: string; seen: boolean }; url: string; dateText: string; sizeText: string };
    assert.equal(d.row.uid, d.uid);
    assert.equal(d.row.from, 'Carol');
    assert.equal(d.row.subject, 'live one');
    assert.equal(d.row.seen, false);
    assert.equal(d.url, `/mail/message?f=INBOX&uid=${d.uid}`);
    await s.until(/event: counts\ndata: \{"folder":"INBOX","messages":1,"unseen":1\}/);
    assert.equal((await b.get(d.url)).status, 200); // sets \Seen
    const f = await s.until(/event: flags\ndata: (.*)\n\n/);
    assert.deepEqual(JSON.parse(f[1]!), { uid: d.uid, flags: ['\\Seen'] });
    await s.until(/event: counts\ndata: \{"folder":"INBOX","messages":1,"unseen":0\}/);
  } finally {
    s.child.kill();
  }
  // the reader left: the server carries on (a later delivery, a page)
  await smtpSend(env.smtpPort, 'carol@c.test', ANN, `From: carol@c.test\r\nTo: ${ANN}\r\nSubject: after\r\n\r\nx\r\n`);
  const page = await b.get('/mail?f=INBOX');
  assert.equal(page.status, 200);
  assert.equal((await b.get('/events?f=Nope')).status, 404);
});

test('an open event stream does not keep its session alive: it ends after sessionIdleTimeout, and the session is gone', async () => {
  const short = await startReadServer({ webmail: 'sessionIdleTimeout = 2' });
  try {
    await short.addUser(ANN, PW);
    const b = browser(short.base);
    assert.equal((await b.login(ANN, PW)).status, 303);
    const s = stream(`${short.base}/events?f=INBOX`, b.jar);
    await s.until(/^retry: \d+$/m);
    const code = await new Promise<number | null>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the stream did not end')), 20_000);
      s.child.on('exit', (c) => {
        clearTimeout(timer);
        resolve(c);
      });
    });
    assert.equal(code, 0, 'the server ended the stream');
    const again = await b.get('/events?f=INBOX');
    assert.equal(again.status, 303, 'the reconnect finds the session expired');
    assert.equal(again.headers.location, '/');
  } finally {
    await short.stop();
  }
});

test('stopping the server ends an open event stream at once, not at the shutdown deadline', { timeout: 60_000 }, async () => {
  // a deadline far past this test's timeout: only ending the stream lets the stop finish in time
  const srv = await startReadServer({ server: 'shutdownTimeout = 600' });
  let stopped = false;
  try {
    await srv.addUser(ANN, PW);
    const b = browser(srv.base);
    assert.equal((await b.login(ANN, PW)).status, 303);
    const s = stream(`${srv.base}/events?f=INBOX`, b.jar);
    await s.until(/^retry: \d+$/m);
    const ended = new Promise<void>((resolve) => s.child.on('exit', () => resolve()));
    await srv.stop();
    stopped = true;
    await ended; // the server closed the stream (curl exits at its end)
  } finally {
    if (!stopped) await srv.stop();
  }
});
