/**
 * test/mailauth/helpers.ts: a server (smtpIncoming + processing, hostname mx.example.org, one
 * account bob@example.org) whose resolver is the Server `dnr` block pointing at a test DNS
 * server; sending a message over SMTP from a chosen loopback address; reading a folder of a
 * mailbox from the store once the server has stopped.
 */
import path from 'node:path';
import { startServer, type Server } from '../../actors/server.ts';
import { Store } from '../../src/store/store.ts';
import { tmpDir } from '../helpers.ts';
import { rawSmtp } from '../smtp/helpers.ts';

export const HOST = 'mx.example.org';
export const BOB = 'bob@example.org';

export interface AuthServer {
  server: Server;
  dir: string;
  port: number;
  stop(): Promise<void>;
}

/** `nameServer`: 'host:port' of the DNS server; `smtp`: more smtpIncoming attributes. */
export async function startAuthServer(nameServer: string, smtp = '', dnr = 'cacheSize = 0'): Promise<AuthServer> {
  const dir = tmpDir('postern-mailauth-');
  const configText = `
Server {
    services = (smtpIncoming processing)
    primaryDomain = "example.org"
    hostname = "${HOST}"
    statusListener = 127.0.0.1:0
    logLevel = error
    dnr = { nameServers = ( { address = ${nameServer} } ) ${dnr} }
    smtpIncoming = {
        listeners = ( { address = 127.0.0.1:0 } )
        ${smtp}
    }
}`;
  const server = await startServer({ configText, dataDir: dir, statusPort: 0, controlSocket: false });
  await server.admin('account.add', { address: BOB, password: 'bob-pw-1' });
  return { server, dir, port: server.port('smtpIncoming'), stop: () => server.stop() };
}

/** Send one message from `localAddress`; the final reply (DATA's, or the first refusal). */
export async function send(port: number, localAddress: string, from: string, to: string, body: string | Buffer, helo = 'client.test'): Promise<{ code: number; text: string }> {
  const c = await rawSmtp(port, localAddress);
  try {
    for (const line of [`EHLO ${helo}`, `MAIL FROM:<${from}>`, `RCPT TO:<${to}>`, 'DATA']) {
      const r = await c.cmd(line);
      if (r.code >= 400) return r;
    }
    const text = Buffer.isBuffer(body) ? body.toString('latin1') : body;
    const crlf = text.replace(/\r?\n/g, '\r\n').replace(/^\./gm, '..');
    c.write(Buffer.from(`${crlf}${crlf.endsWith('\r\n') ? '' : '\r\n'}.\r\n`, 'latin1'));
    const r = await c.reply(30_000);
    const noop = await c.cmd('NOOP'); // the session goes on
    if (noop.code !== 250) throw new Error(`NOOP after DATA: ${noop.text}`);
    await c.cmd('QUIT').catch(() => {});
    return r;
  } finally {
    c.close();
  }
}

/** The messages of a folder, read from the store of a stopped server. */
export async function readFolder(dir: string, address: string, folder: string): Promise<string[]> {
  const store = await new Store({ dataDir: dir, compactIntervalMs: 0 }).open();
  try {
    const mb = store.mailbox(address);
    const out: string[] = [];
    for (const m of await mb.list(folder)) out.push(Buffer.from((await mb.fetch(folder, m.uid)).body).toString('latin1'));
    return out;
  } finally {
    await store.close();
  }
}

export const dataDirOf = (s: AuthServer): string => path.resolve(s.dir);

/** A plain message with a From: header and a marker in its subject. */
export function plain(from: string, subject: string, extraHeaders: string[] = []): string {
  return [...extraHeaders, `From: <${from}>`, `To: <${BOB}>`, `Subject: ${subject}`, 'Date: Sun, 06 Dec 2026 10:00:00 +0000',
    `Message-ID: <${subject.replace(/\W/g, '')}.${Math.random().toString(36).slice(2)}@test>`, '', `Body of ${subject}.`, ''].join('\r\n');
}
