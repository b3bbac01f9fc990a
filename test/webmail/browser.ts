/**
 * test/webmail/browser.ts: what the WebMail browser tests share. A running server with webmail,
 * smtpIncoming, processing and pop3 on one store (and the store probe, test/probed.ts, to read
 * what the store holds); mail delivered over SMTP with Python's smtplib and fetched over POP3
 * with poplib (each MIME part decoded by Python's email package); Debian's chromium driven by
 * playwright-core, launched once per test file, a fresh context (cookies, viewport, User-Agent)
 * for each test; a local HTTP server counting the requests it gets (the "remote host" of HTML
 * mail, and the other origin of a cross-site form); screenshots under test-output/webmail/.
 *
 * Exports: `startWebmail`, `WebmailEnv`, `launchBrowser`, `openPage`, `OpenPage`, `login`,
 * `startCounter`, `Counter`, `smtpSend`, `popFetch`, `PopMessage`, `screenshot`, `SCREENSHOT_DIR`,
 * `MOBILE_UA`, `ANN`, `BOB`, `PW`, `WAIT_MS`, `mail`, `navigating`, `startSuite`, `Suite`.
 * Throws: startWebmail rejects when the server does not start; launchBrowser when chromium is
 * not installed (`which chromium` finds nothing); smtpSend/popFetch when Python fails; every
 * browser wait is bounded (WAIT_MS) and rejects at its bound.
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { runProcess, tmpDir, waitFor } from '../helpers.ts';
import { serviceBlock, startProbed, type ProbedServer } from '../probed.ts';

export const ANN = 'ann@example.org';
export const BOB = 'bob@example.org';
export const PW = 'open sesame';
/** The bound of every single browser wait (navigation, selector, response), ms. */
export const WAIT_MS = 10_000;
export const MOBILE_UA = 'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36';
/** Where the screenshots go: test-output/webmail/ at the repository's root (git-ignored). */
export const SCREENSHOT_DIR = fileURLToPath(new URL('../../test-output/webmail/', import.meta.url));

export interface WebmailEnv extends ProbedServer {
  /** http://127.0.0.1:<port> of the webmail listener. */
  base: string;
  smtpPort: number;
  pop3Port: number;
  /** The INBOX (or `folder`) message count of an account, read from the store. */
  count(address: string, folder?: string): Promise<number>;
  /** Wait until an account's folder holds at least `n` messages (bounded). */
  waitCount(address: string, n: number, folder?: string): Promise<void>;
}

/** A server with webmail (`webmail` attributes added to its block), smtpIncoming, processing and
 * pop3, and the accounts ann and bob (password PW). */
export async function startWebmail(o: { webmail?: string; server?: string } = {}): Promise<WebmailEnv> {
  const dir = tmpDir('postern-webmail-');
  const body = `hostname = "mail.example.org"
    ${o.server ?? ''}
    ${serviceBlock('webmail', { extra: o.webmail })}
    ${serviceBlock('smtpIncoming')}
    processing = { }
    ${serviceBlock('pop3')}`;
  const env = await startProbed({ dir, services: ['webmail', 'smtpIncoming', 'processing', 'pop3'], body });
  try {
    await env.addUser(ANN, PW);
    await env.addUser(BOB, PW);
    const count = async (address: string, folder = 'INBOX'): Promise<number> => ((await env.probeJson('DIGEST', address))[folder] ?? []).length;
    return {
      ...env,
      base: `http://127.0.0.1:${env.server.port('webmail')}`,
      smtpPort: env.server.port('smtpIncoming'),
      pop3Port: env.server.port('pop3'),
      count,
      waitCount: async (address, n, folder = 'INBOX') => void (await waitFor(async () => (await count(address, folder)) >= n, WAIT_MS, `${n} messages in ${address} ${folder}`)),
    };
  } catch (e) {
    await env.stop(); // a server left running would keep the test process alive
    throw e;
  }
}

/** Send raw messages over SMTP with Python's smtplib (one connection). */
export async function smtpSend(port: number, messages: ReadonlyArray<{ from: string; to: readonly string[]; data: string | Buffer }>): Promise<void> {
  const script = `
import base64, json, smtplib, sys
job = json.load(sys.stdin)
with smtplib.SMTP('127.0.0.1', job['port'], timeout=10) as s:
    for m in job['messages']:
        s.sendmail(m['from'], m['to'], base64.b64decode(m['data']))
`;
  const input = JSON.stringify({ port, messages: messages.map((m) => ({ from: m.from, to: m.to, data: Buffer.from(m.data).toString('base64') })) });
  const r = await runProcess('python3', ['-c', script], { input, timeoutMs: 20_000 });
  if (r.code !== 0) throw new Error(`smtplib failed: exit ${r.code}\n${r.stderr}`);
}

/** One message as poplib retrieved it and Python's email package decoded it. */
export interface PopMessage {
  raw: Buffer;
  /** Header name (lower case) → its value, unfolded (the first of repeated ones). */
  headers: Record<string, string>;
  /** The first text/plain part that is not an attachment, decoded. */
  text: string;
  attachments: Array<{ filename: string; contentType: string; data: Buffer }>;
}

/** Every message of an account's maildrop over POP3 (Python's poplib; nothing deleted). */
export async function popFetch(port: number, user: string, password: string): Promise<PopMessage[]> {
  const script = `
import base64, email, email.policy, json, poplib, sys
p = poplib.POP3('127.0.0.1', ${port}, timeout=10)
p.user(sys.argv[1]); p.pass_(sys.argv[2])
out = []
for i in range(1, len(p.list()[1]) + 1):
    raw = b'\\r\\n'.join(p.retr(i)[1]) + b'\\r\\n'
    m = email.message_from_bytes(raw, policy=email.policy.default)
    headers = {}
    for k, v in m.items():
        headers.setdefault(k.lower(), str(v))
    text, atts = None, []
    for part in m.walk():
        if part.is_multipart():
            continue
        if part.get_content_disposition() == 'attachment':
            atts.append({'filename': part.get_filename() or '', 'contentType': part.get_content_type(),
                         'data': base64.b64encode(part.get_payload(decode=True) or b'').decode()})
        elif text is None and part.get_content_type() == 'text/plain':
            text = part.get_content()
    out.append({'raw': base64.b64encode(raw).decode(), 'headers': headers, 'text': text or '', 'attachments': atts})
p.quit()
print(json.dumps(out))
`;
  const r = await runProcess('python3', ['-c', script, user, password], { timeoutMs: 20_000 });
  if (r.code !== 0) throw new Error(`poplib failed: exit ${r.code}\n${r.stderr}`);
  return (JSON.parse(r.stdout) as Array<{ raw: string; headers: Record<string, string>; text: string; attachments: Array<{ filename: string; contentType: string; data: string }> }>).map((m) => ({
    raw: Buffer.from(m.raw, 'base64'),
    headers: m.headers,
    text: m.text,
    attachments: m.attachments.map((a) => ({ ...a, data: Buffer.from(a.data, 'base64') })),
  }));
}

/** Debian's chromium, found on PATH (CHROMIUM_PATH overrides), headless, once per test file. */
export async function launchBrowser(): Promise<Browser> {
  let executablePath = process.env.CHROMIUM_PATH ?? '';
  if (executablePath === '') {
    try {
      executablePath = execFileSync('which', ['chromium'], { encoding: 'utf8' }).trim();
    } catch {
      throw new Error('chromium is not installed (apt-get install chromium)');
    }
  }
  return chromium.launch({ executablePath, args: ['--no-sandbox'], headless: true, timeout: 30_000 });
}

/** A page in a fresh context, with what it reported: console lines, dialogs (confirm() answered
 * yes, the others dismissed), uncaught errors. */
export interface OpenPage {
  context: BrowserContext;
  page: Page;
  console: string[];
  dialogs: string[];
  errors: string[];
  /** Console lines about WebMail's own page breaking: uncaught errors, and resources or inline
   * code refused by its Content-Security-Policy (an HTML message's blocked remote content
   * excepted: that is the frame's policy doing its job; the browser's own /favicon.ico too). */
  ownProblems(): string[];
  close(): Promise<void>;
}

/** A fresh context (no cookies) at `base`: desktop 1440×900, or with `mobile` a 360×740 phone
 * with a mobile User-Agent. Every wait in it is bounded by WAIT_MS. */
export async function openPage(browser: Browser, base: string, o: { mobile?: boolean } = {}): Promise<OpenPage> {
  const mobile = o.mobile === true;
  const context = await browser.newContext({
    baseURL: base,
    viewport: mobile ? { width: 360, height: 740 } : { width: 1440, height: 900 },
    ...(mobile ? { userAgent: MOBILE_UA, isMobile: true, hasTouch: true, deviceScaleFactor: 2 } : {}),
  });
  context.setDefaultTimeout(WAIT_MS);
  context.setDefaultNavigationTimeout(WAIT_MS);
  const page = await context.newPage();
  const own: string[] = [];
  const out: OpenPage = { context, page, console: [], dialogs: [], errors: [], ownProblems: () => [...out.errors, ...own], close: () => context.close() };
  page.on('console', (m) => {
    out.console.push(m.text());
    const loc = m.location().url; // '' when the browser gives none
    const at = new URL(loc !== '' ? loc : page.url(), base).pathname;
    // the browser's own guess at /favicon.ico is not a page's request
    if (m.type() === 'error' && at !== '/mail/message/html' && at !== '/favicon.ico') own.push(`${m.location().url}: ${m.text()}`);
  });
  // a confirm() is the reader's own question (e.g. "empty Trash?"): answered yes; any other dialog is dismissed
  page.on('dialog', (d) => {
    out.dialogs.push(`${d.type()}: ${d.message()}`);
    void (d.type() === 'confirm' ? d.accept() : d.dismiss()).catch(() => {});
  });
  page.on('pageerror', (e) => out.errors.push(e.message));
  return out;
}

/** Log in through the form on `/`; resolves when the list is shown. */
export async function login(page: Page, user = ANN, password = PW): Promise<void> {
  await page.goto('/');
  await page.fill('form#login [name=username]', user);
  await page.fill('form#login [name=password]', password);
  await Promise.all([page.waitForURL(/\/mail\?f=INBOX/), page.click('form#login button[type=submit]')]);
  await page.waitForSelector('nav#folders', { state: 'attached' }); // folded away behind a menu on a phone
}

/** A local HTTP server on 127.0.0.1:0 that records every request's path. `pages` are served as
 * HTML; any other path answers a 1×1 PNG. */
export interface Counter {
  port: number;
  origin: string;
  /** The paths requested so far, in order. */
  readonly requests: readonly string[];
  /** How many requests had a path starting with `prefix`. */
  hits(prefix: string): number;
  pages: Map<string, string>;
  stop(): Promise<void>;
}

const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNk+A8AAQUBAScY42YAAAAASUVORK5CYII=', 'base64');

export async function startCounter(): Promise<Counter> {
  const requests: string[] = [];
  const pages = new Map<string, string>();
  const server = http.createServer((req, res) => {
    const p = req.url ?? '/';
    requests.push(p);
    const page = pages.get(p);
    if (page !== undefined) {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      res.end(page);
    } else {
      res.writeHead(200, { 'content-type': 'image/png', 'cache-control': 'no-store' });
      res.end(PNG);
    }
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    origin: `http://127.0.0.1:${port}`,
    requests,
    hits: (prefix) => requests.filter((r) => r.startsWith(prefix)).length,
    pages,
    stop: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** Save a full-page screenshot as test-output/webmail/<name>.png; resolves (and prints) its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  fs.mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const file = path.join(SCREENSHOT_DIR, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true, timeout: WAIT_MS });
  process.stdout.write(`# screenshot: ${file}\n`);
  return file;
}

/** A plain-text message (CRLF lines). */
export function mail(o: { from: string; to: string; subject: string; body?: string; messageId?: string; date?: string; headers?: string }): string {
  const id = o.messageId ?? `<${o.subject.replace(/\W/g, '')}.${Date.now()}@example.net>`;
  return (
    `From: ${o.from}\r\nTo: ${o.to}\r\nSubject: ${o.subject}\r\nDate: ${o.date ?? new Date().toUTCString()}\r\n` +
    `Message-ID: ${id}\r\n${o.headers ?? ''}MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n` +
    `${(o.body ?? 'Hello.\n').replace(/\r?\n/g, '\r\n')}`
  );
}

/** Run `act` (a click that submits or follows a link) and wait until the page has navigated and
 * loaded, even when the new URL is the same as the old (a POST answered 303 to the same list). */
export async function navigating(page: Page, act: () => Promise<unknown>): Promise<void> {
  const nav = page.waitForEvent('framenavigated', { predicate: (f) => f === page.mainFrame(), timeout: WAIT_MS });
  await act();
  await nav;
  await page.waitForLoadState('load');
}

/** What one test file runs against: the server, chromium, the counting server. */
export interface Suite {
  env: WebmailEnv;
  browser: Browser;
  counter: Counter;
  stop(): Promise<void>;
}

/** Start the three at once; if one fails, the others are stopped before the error is thrown (a
 * browser left running would keep the test process alive). */
export async function startSuite(o: { webmail?: string; server?: string } = {}): Promise<Suite> {
  const [env, browser, counter] = await Promise.allSettled([startWebmail(o), launchBrowser(), startCounter()]);
  const stops = [env.status === 'fulfilled' ? () => env.value.stop() : null, browser.status === 'fulfilled' ? () => browser.value.close() : null, counter.status === 'fulfilled' ? () => counter.value.stop() : null];
  const stop = async (): Promise<void> => {
    for (const s of stops.reverse()) await s?.().catch(() => {});
  };
  for (const r of [env, browser, counter]) {
    if (r.status === 'rejected') {
      await stop();
      throw r.reason;
    }
  }
  if (env.status !== 'fulfilled' || browser.status !== 'fulfilled' || counter.status !== 'fulfilled') throw new Error('unreachable');
  return { env: env.value, browser: browser.value, counter: counter.value, stop };
}
