/**
 * test/proxy/helpers.ts: what the proxy tests share: a back end (a real Postern server with IMAP
 * and POP3 and the store probe, test/imap/helpers.ts `startImap`), a front end (a Postern server
 * running the POP3 and IMAP proxies, each with a plain listener with a certificate for
 * STLS/STARTTLS and an implicit-TLS one), a silent back end (a TCP server that accepts and never
 * writes), and a file user map written in a temp dir.
 *
 * Exports: `startBackend`, `startFront`, `Front`, `silentServer`, `closedPort`.
 * Throws: startFront rejects when the server does not start.
 */
import net from 'node:net';
import { startServer, type Server } from '../../actors/server.ts';
import { tmpDir } from '../helpers.ts';
import { startImap, type ImapEnv } from '../imap/helpers.ts';
import { selfSignedCert, serviceBlock } from '../probed.ts';

export { python } from '../pop3/helpers.ts';

/** A back end with POP3 and IMAP, and `users` (password "pw-<local part>") with one message each. */
export async function startBackend(users: string[] = []): Promise<ImapEnv> {
  const env = await startImap({ pop3: true });
  for (const u of users) {
    await env.addUser(u, `pw-${u.split('@')[0]}`);
    await env.deliver(u, `From: a@example.org\r\nTo: ${u}\r\nSubject: hello ${u}\r\nMessage-ID: <${u.replace(/\W/g, '')}@example.org>\r\n\r\nBody for ${u}.\r\n`);
  }
  return env;
}

export interface Front {
  server: Server;
  dir: string;
  certFile: string;
  pop3: number;
  pop3Tls: number;
  imap: number;
  imapTls: number;
  stop(): Promise<void>;
}

/** A front end with pop3Proxy and imapProxy. `pop3`/`imap`: extra attributes of each block (the
 * mapping, connectionData …); `both`: attributes of both. `server`: Server-level attributes;
 * `listener`: attributes of both plain listeners; `threads`: both services' thread attributes. */
export async function startFront(o: { pop3?: string; imap?: string; both?: string; server?: string; dir?: string; services?: string[]; listener?: string; threads?: string } = {}): Promise<Front> {
  const dir = o.dir ?? tmpDir('postern-front-');
  const { certFile, keyFile } = selfSignedCert(dir);
  const ssl = `sslControl = { certFile = "${certFile}" keyFile = "${keyFile}" }`;
  const configText = `
Server {
    services = (${(o.services ?? ['pop3Proxy', 'imapProxy']).join(' ')})
    primaryDomain = "example.org"
    hostname = "front.example.org"
    statusListener = 127.0.0.1:0
    logLevel = error
    ${o.server ?? ''}
    ${serviceBlock('pop3Proxy', { ssl, listener: o.listener, threads: o.threads, extra: `${o.both ?? ''} ${o.pop3 ?? ''}` })}
    ${serviceBlock('imapProxy', { ssl, listener: o.listener, threads: o.threads, extra: `${o.both ?? ''} ${o.imap ?? ''}` })}
}`;
  const server = await startServer({ configText, dataDir: dir, statusPort: 0, controlSocket: false, backoffInitialMs: 100, loadIntervalMs: 200 });
  const has = (name: string): boolean => (o.services ?? ['pop3Proxy', 'imapProxy']).includes(name);
  return {
    server,
    dir,
    certFile,
    pop3: has('pop3Proxy') ? server.port('pop3Proxy', 0) : 0,
    pop3Tls: has('pop3Proxy') ? server.port('pop3Proxy', 1) : 0,
    imap: has('imapProxy') ? server.port('imapProxy', 0) : 0,
    imapTls: has('imapProxy') ? server.port('imapProxy', 1) : 0,
    stop: () => server.stop(),
  };
}

/** A TCP server that accepts and never writes: the silent back end (`from`: the peers' addresses). */
export async function silentServer(): Promise<{ port: number; accepted: () => number; from: string[]; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const from: string[] = [];
  let n = 0;
  const srv = net.createServer((s) => {
    n++;
    from.push(s.remoteAddress ?? '');
    sockets.add(s);
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return {
    port: (srv.address() as net.AddressInfo).port,
    accepted: () => n,
    from,
    close: () => new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      srv.close(() => r());
    }),
  };
}

/** A port nothing listens on (bound, then closed). */
export async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}
