/**
 * test/webadmin/helpers.ts: what the WebAdmin tests share: a running server with webadmin, pop3
 * (logLevel info, so log.tail has its records), report,
 * smtpIncoming (127/8 may relay) and processing on port 0, no smtpOutgoing (relayed mail stays
 * queued), fault injection on, the admin password set, and a
 * curl "browser" (test/webmail/read-helpers.ts) logged in as admin; chromium helpers come from
 * test/webmail/browser.ts (screenshots here go to test-output/webadmin/).
 *
 * Exports: `startAdmin`, `AdminEnv`, `ADMIN_PW`, `adminBrowser`, `configText`, `ctl`, `shot`,
 * `SHOT_DIR`, `popLogin`.
 * Throws: startAdmin rejects when the server does not start; popLogin when Python fails.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { startServer, type Server } from '../../actors/server.ts';
import { runProcess, tmpDir } from '../helpers.ts';
import { browser, type Browser } from '../webmail/read-helpers.ts';

export const ADMIN_PW = 'admin secret 1';
export const SHOT_DIR = fileURLToPath(new URL('../../test-output/webadmin/', import.meta.url));

export interface AdminEnv {
  server: Server;
  dir: string;
  base: string;
  pop3Port: number;
  stop(): Promise<void>;
}

/** The test config: webadmin (one thread), pop3, smtpIncoming, processing; `webadmin`: extra
 * attributes of its block; `server`: Server-level ones. */
export function configText(o: { webadmin?: string; server?: string } = {}): string {
  return `
Server {
    services = (webadmin pop3 smtpIncoming processing report)
    primaryDomain = "example.org"
    statusListener = 127.0.0.1:0
    logLevel = info
    enableFaultInjection = yes
    ${o.server ?? ''}
    webadmin = {
        listeners = ( { address = 127.0.0.1:0 } )
        minConnThreads = 1 maxConnThreads = 1
        authFailureDelay = 0
        ${o.webadmin ?? ''}
    }
    pop3 = {
        listeners = ( { address = 127.0.0.1:0 } )
        minConnThreads = 1 maxConnThreads = 1
        authFailureDelay = 0
        logLevel = info
    }
    report = { listeners = ( { address = 127.0.0.1:0 } ) }
    smtpIncoming = { listeners = ( { address = 127.0.0.1:0 } ) relayNetworks = ( 127.0.0.0/8 ) }
    processing = { }
}`;
}

/** A server from `configFile` (else the test config) on `dir` (else a new one). */
/** `noPassword`: the admin password is left unset; `controlSocket`: `postern ctl --data-dir DIR` works. */
export async function startAdmin(o: { webadmin?: string; server?: string; configFile?: string; dir?: string; noPassword?: boolean; controlSocket?: boolean } = {}): Promise<AdminEnv> {
  const dir = o.dir ?? tmpDir('postern-webadmin-');
  const server = await startServer({
    ...(o.configFile !== undefined ? { configFile: o.configFile } : { configText: configText(o) }),
    dataDir: dir, statusPort: 0, controlSocket: o.controlSocket === true, backoffInitialMs: 100, loadIntervalMs: 200,
  });
  try {
    if (o.noPassword !== true) await server.admin('admin.passwd', { password: ADMIN_PW });
    return { server, dir, base: `http://127.0.0.1:${server.port('webadmin')}`, pop3Port: server.port('pop3'), stop: () => server.stop() };
  } catch (e) {
    await server.stop();
    throw e;
  }
}

/** A curl browser on `base`, logged in as admin (the CSRF token read from the dashboard). */
export async function adminBrowser(base: string): Promise<Browser> {
  const b = browser(base);
  const r = await b.login('admin', ADMIN_PW);
  if (r.status !== 303) throw new Error(`admin login: ${r.status} ${r.text.slice(0, 300)}`);
  await b.get('/dashboard');
  return b;
}

/** Run `postern ctl --data-dir DIR ARGS…` (the registry over the control socket). */
export async function ctl(dir: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const bin = fileURLToPath(new URL('../../bin/postern.js', import.meta.url));
  return runProcess(process.execPath, [bin, 'ctl', '--data-dir', dir, ...args], { timeoutMs: 30_000 });
}

/** Screenshot to test-output/webadmin/<name>.png (printed). */
export async function shot(page: Page, name: string): Promise<string> {
  fs.mkdirSync(SHOT_DIR, { recursive: true });
  const file = path.join(SHOT_DIR, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true, timeout: 10_000 });
  process.stdout.write(`# screenshot: ${file}\n`);
  return file;
}

/** Log in over POP3 with Python's poplib; resolves STAT's (count, size). */
export async function popLogin(port: number, user: string, password: string): Promise<[number, number]> {
  const script = `
import json, poplib, sys
p = poplib.POP3('127.0.0.1', int(sys.argv[1]), timeout=10)
p.user(sys.argv[2]); p.pass_(sys.argv[3])
print(json.dumps(list(p.stat())))
p.quit()
`;
  const r = await runProcess('python3', ['-c', script, String(port), user, password], { timeoutMs: 20_000 });
  if (r.code !== 0) throw new Error(`poplib failed: exit ${r.code}\n${r.stderr}`);
  return JSON.parse(r.stdout) as [number, number];
}
