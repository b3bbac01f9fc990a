/**
 * test/webmailProxy/helpers.ts: what the WebMail proxy tests share: a back end (a real Postern
 * with WebMail, SMTP, processing and POP3, and the accounts ann and bob: test/webmail/browser.ts
 * `startWebmail`), a front end running only `webmailProxy` (its block's extra attributes given),
 * a "slow" back end (a plain HTTP server that holds every request until released, and counts
 * them), and a closed port (a back end that is down).
 *
 * Exports: `startProxy`, `ProxyEnv`, `startHolder`, `Holder`, `closedPort`, `curl`.
 * Throws: startProxy rejects when the server does not start (a config error included).
 */
import http from 'node:http';
import net from 'node:net';
import { startServer, type Server } from '../../actors/server.ts';
import { runProcess, tmpDir } from '../helpers.ts';
import { parseCurlReply, type Reply } from '../webmail/read-helpers.ts';

export interface ProxyEnv {
  server: Server;
  port: number;
  base: string;
  stop(): Promise<void>;
}

/** A front end with the WebMail proxy alone; `extra` goes inside `webmailProxy = { … }`, `server`
 * at the Server level. One connection thread, no login failure delay unless `extra` sets one. */
export async function startProxy(o: { backendPort: number; backendHost?: string; extra?: string; server?: string; threads?: string }): Promise<ProxyEnv> {
  const dir = tmpDir('postern-wmproxy-');
  const configText = `
Server {
    services = (webmailProxy)
    primaryDomain = "example.org"
    statusListener = 127.0.0.1:0
    logLevel = error
    ${o.server ?? ''}
    webmailProxy = {
        listeners = ( { address = 127.0.0.1:0 } )
        ${o.threads ?? 'minConnThreads = 1 maxConnThreads = 1'}
        ${/authFailureDelay/.test(o.extra ?? '') ? '' : 'authFailureDelay = 0'}
        mappingData = { mappingHost = "${o.backendHost ?? '127.0.0.1'}" mappingPort = ${o.backendPort} }
        ${o.extra ?? ''}
    }
}`;
  const server = await startServer({ configText, dataDir: dir, statusPort: 0, controlSocket: false, backoffInitialMs: 100, loadIntervalMs: 200 });
  const port = server.port('webmailProxy');
  return { server, port, base: `http://127.0.0.1:${port}`, stop: () => server.stop() };
}

/** A back end that answers nothing until told: every request is held (and counted). */
export interface Holder {
  port: number;
  /** Requests received so far. */
  readonly received: number;
  /** Answer every held request (200, "released") and every later one at once. */
  release(): void;
  stop(): Promise<void>;
}

export async function startHolder(): Promise<Holder> {
  const held: http.ServerResponse[] = [];
  let received = 0;
  let open = false;
  const answer = (res: http.ServerResponse): void => {
    if (!res.writableEnded) res.writeHead(200, { 'content-type': 'text/plain' }).end('released\n');
  };
  const server = http.createServer((req, res) => {
    received++;
    req.resume();
    if (open) answer(res);
    else held.push(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    get received() {
      return received;
    },
    release() {
      open = true;
      for (const r of held.splice(0)) answer(r);
    },
    stop: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** A loopback port nobody listens on (a back end that is down: connections refused). */
export async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/** One curl request (`-i`, no redirects followed); `args` before the URL. */
export async function curl(url: string, args: string[] = [], maxTime = 30): Promise<Reply & { elapsedMs: number }> {
  const t0 = Date.now();
  const r = await runProcess('curl', ['-sS', '-i', '--max-time', String(maxTime), ...args, url], { timeoutMs: (maxTime + 10) * 1000 });
  if (r.code !== 0) throw new Error(`curl failed (${r.code}): ${r.stderr}`);
  return { ...parseCurlReply(Buffer.from(r.stdout)), elapsedMs: Date.now() - t0 };
}
