/**
 * test/pop3/helpers.ts: a running server with the POP3 service (and the store probe fixture in
 * a test-only slot, testProbe, to deliver mail and read flags while POP3 sessions are open), a raw POP3
 * client on a real socket, and a runner for Python scripts (poplib) and curl.
 */
import net from 'node:net';
import { connectLines, runProcess, tmpDir, type LineClient } from '../helpers.ts';
import { selfSignedCert, serviceBlock, startProbed, type ProbedServer } from '../probed.ts';

export interface Pop3Env extends ProbedServer {
  /** The plain listener (STLS available: it has a certificate). */
  port: number;
  /** The implicit-TLS listener. */
  tlsPort: number;
}

export interface Pop3EnvOptions {
  /** Extra attributes inside `pop3 = { … }`. */
  pop3?: string;
  /** Extra Server-level attributes. */
  server?: string;
  /** Extra attributes of the plain listener. */
  listener?: string;
  /** Extra attributes of the implicit-TLS listener. */
  tlsListener?: string;
}

export async function startPop3(o: Pop3EnvOptions = {}): Promise<Pop3Env> {
  const dir = tmpDir('postern-pop3-');
  const { certFile, keyFile } = selfSignedCert(dir);
  const ssl = `sslControl = { certFile = "${certFile}" keyFile = "${keyFile}" }`;
  const body = `enableFaultInjection = yes
    ${o.server ?? ''}
    ${serviceBlock('pop3', { ssl, listener: o.listener, tlsListener: o.tlsListener, extra: o.pop3 })}`;
  const env = await startProbed({ dir, services: ['pop3'], body });
  return { ...env, port: env.server.port('pop3', 0), tlsPort: env.server.port('pop3', 1) };
}

export function message(subject: string, bodyText = 'Hello.\r\n'): string {
  return `From: sender@example.org\r\nTo: user@example.org\r\nSubject: ${subject}\r\n\r\n${bodyText}`;
}

/** Run a Python script; resolves its stdout (rejects with stderr on a non-zero exit). */
export async function python(script: string, env: Record<string, string> = {}, timeoutMs = 30_000): Promise<string> {
  const r = await runProcess('python3', ['-c', script], { env, timeoutMs });
  if (r.code !== 0) throw new Error(`python failed: exit ${r.code}\n${r.stderr}`);
  return r.stdout;
}

export function curl(args: string[], timeoutMs = 30_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return runProcess('curl', ['-sS', ...args], { timeoutMs });
}

/** A raw POP3 client: lines, multi-line responses, the socket itself. */
export interface Pop3Client extends LineClient {
  /** Read a multi-line response after its +OK line: the lines, dot-unstuffed, without ".". */
  readMulti(timeoutMs?: number): Promise<string[]>;
  login(user: string, password: string): Promise<string>;
}

export async function pop3(port: number, host = '127.0.0.1', localAddress?: string): Promise<Pop3Client> {
  const c = (await connectLines(port, host, localAddress)) as Pop3Client;
  const greeting = await c.read();
  if (!greeting.startsWith('+OK')) throw new Error(`greeting: ${greeting}`);
  c.readMulti = async (timeoutMs = 10_000) => {
    const out: string[] = [];
    for (;;) {
      const l = await c.read(timeoutMs);
      if (l === '.') return out;
      out.push(l.startsWith('.') ? l.slice(1) : l);
    }
  };
  c.login = async (user, password) => {
    const u = await c.cmd(`USER ${user}`);
    if (!u.startsWith('+OK')) return u;
    return c.cmd(`PASS ${password}`);
  };
  return c;
}

/** Bytes until the server closes the connection. */
export function readAll(socket: net.Socket): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    socket.on('data', (d: Buffer | string) => chunks.push(typeof d === 'string' ? Buffer.from(d) : d));
    socket.on('close', () => resolve(Buffer.concat(chunks)));
  });
}
