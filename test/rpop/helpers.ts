/**
 * test/rpop/helpers.ts: the pieces of the RPOP tests: a certificate for 127.0.0.1, 127.0.0.2 and
 * localhost (its own CA: the fetcher's `caFile`), a "remote" Postern with POP3 (plain with STLS
 * on 127.0.0.1, implicit TLS on 127.0.0.2) and the store probe to put mail in, a "fetcher"
 * Postern running the rpop service (and the probe, to read what arrived), a message maker, and
 * waits on `account.rpop.list`.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { serviceBlock, startProbed, type ProbedServer } from '../probed.ts';
import { waitFor } from '../helpers.ts';
import { pop3 } from '../pop3/helpers.ts';

/** A self-signed certificate with SANs for 127.0.0.1, 127.0.0.2 and localhost. */
export function sanCert(dir: string): { certFile: string; keyFile: string } {
  const certFile = path.join(dir, 'rcert.pem');
  const keyFile = path.join(dir, 'rkey.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=IP:127.0.0.1,IP:127.0.0.2,DNS:localhost'], { stdio: 'ignore' });
  return { certFile, keyFile };
}

export interface Remote extends ProbedServer {
  port: number;
  tlsPort: number;
  certFile: string;
}

export async function startRemote(dir: string): Promise<Remote> {
  fs.mkdirSync(dir, { recursive: true });
  const { certFile, keyFile } = sanCert(dir);
  const ssl = `sslControl = { certFile = "${certFile}" keyFile = "${keyFile}" }`;
  const env = await startProbed({ dir, services: ['pop3'], body: serviceBlock('pop3', { ssl }) });
  return { ...env, port: env.server.port('pop3', 0), tlsPort: env.server.port('pop3', 1), certFile };
}

/** A Postern running rpop (its block: `rpop`, attributes) over `dir`, and a plain POP3
 * listener to read what arrived (`pop3Port`). */
export async function startFetcher(dir: string, rpop: string): Promise<ProbedServer & { pop3Port: number }> {
  fs.mkdirSync(dir, { recursive: true });
  const env = await startProbed({ dir, services: ['rpop', 'pop3'], body: `rpop = { ${rpop} }\n${serviceBlock('pop3')}` });
  return { ...env, pop3Port: env.server.port('pop3', 0) };
}

/** Every message of an account's INBOX over POP3, each without the one Received: field the
 * fetch put above it (checked to be there). */
export async function fetchedMessages(port: number, user: string, password: string): Promise<string[]> {
  const c = await pop3(port);
  try {
    const ok = await c.login(user, password);
    if (!ok.startsWith('+OK')) throw new Error(`login: ${ok}`);
    const n = Number((await c.cmd('STAT')).split(' ')[1]);
    const out: string[] = [];
    for (let i = 1; i <= n; i++) {
      const l = await c.cmd(`RETR ${i}`);
      if (!l.startsWith('+OK')) throw new Error(`RETR: ${l}`);
      const lines = await c.readMulti();
      if (!/^Received: from \S+ by \S+ with POP3 id \S+$/.test(lines[0] ?? '') || !/^\tfor <[^>]+>; /.test(lines[1] ?? '')) throw new Error(`no Received: line above message ${i}: ${lines.slice(0, 2).join(' | ')}`);
      out.push(`${lines.slice(2).join('\r\n')}\r\n`);
    }
    await c.cmd('QUIT');
    return out;
  } finally {
    c.close();
  }
}

/** How many messages a POP3 maildrop holds (STAT). */
export async function remoteCount(port: number, user: string, password: string): Promise<number> {
  const c = await pop3(port);
  try {
    const ok = await c.login(user, password);
    if (!ok.startsWith('+OK')) throw new Error(`login: ${ok}`);
    const n = Number((await c.cmd('STAT')).split(' ')[1]);
    await c.cmd('QUIT');
    return n;
  } finally {
    c.close();
  }
}

export function mail(subject: string, body = 'Hello.\r\n'): string {
  return `From: far@remote.test\r\nTo: ann@remote.test\r\nSubject: ${subject}\r\nMessage-ID: <${subject.replace(/\W/g, '')}@remote.test>\r\n\r\n${body}`;
}

export interface RpopRow {
  id: number;
  password: string;
  state: { lastPollAt: number | null; failures: number; lastError: { code: string; message: string } | null; nextPollAt: number | null; fetched: number; deleted: number };
}

export async function rpopList(s: ProbedServer, address: string): Promise<RpopRow[]> {
  return (await s.server.admin('account.rpop.list', { address })) as RpopRow[];
}

/** Wait until a connection has finished a poll that started at or after `since`. */
export async function pollAfter(s: ProbedServer, address: string, id: number, since: number, timeoutMs = 20_000): Promise<RpopRow> {
  return waitFor(async () => {
    const r = (await rpopList(s, address)).find((x) => x.id === id);
    return r !== undefined && r.state.lastPollAt !== null && r.state.lastPollAt >= since ? r : null;
  }, timeoutMs, `a poll of rpop connection ${id}`);
}

/** The subjects in a folder of an account, from the probe's DIGEST (body read through the store). */
export async function folderDigest(s: ProbedServer, address: string, folder = 'INBOX'): Promise<Array<[number, number, string, number]>> {
  const d = (await s.probeJson('DIGEST', address)) as Record<string, Array<[number, number, string, number]>>;
  return d[folder] ?? [];
}

/** Every file under `dir`, recursively. */
export function allFiles(dir: string, out: string[] = []): string[] {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) allFiles(p, out);
    else if (e.isFile()) out.push(p);
  }
  return out;
}
