/**
 * test/webmail/read-helpers.ts: what the WebMail reading tests share: a server running webmail,
 * smtpIncoming and processing (SMTP mail delivered locally) on port 0 beside the store probe
 * (to append messages straight into a folder), and a browser-like client made of curl with a
 * cookie jar (`-i`: status, headers and body; redirects are returned, not followed; bodies as
 * bytes for byte-exact downloads).
 *
 * Exports: `startReadServer`, `ReadEnv`, `browser`, `Browser`, `Reply`, `smtpSend`.
 * Throws: startReadServer rejects when the server does not start; a client call rejects when
 * curl fails.
 */
import fs from 'node:fs';
import path from 'node:path';
import { runProcess, tmpDir } from '../helpers.ts';
import { startProbed, type ProbedServer } from '../probed.ts';
import { python } from '../pop3/helpers.ts';

export interface ReadEnv extends ProbedServer {
  port: number;
  base: string;
  smtpPort: number;
}

/** `webmail`: extra attributes inside `webmail = { … }`; `server`: Server-level ones. */
export async function startReadServer(o: { webmail?: string; server?: string } = {}): Promise<ReadEnv> {
  const dir = tmpDir('postern-webmail-read-');
  const body = `
    webmail = {
        listeners = ( { address = 127.0.0.1:0 } )
        minConnThreads = 1 maxConnThreads = 1
        authFailureDelay = 0
        ${o.webmail ?? ''}
    }
    smtpIncoming = { listeners = ( { address = 127.0.0.1:0 } ) }
    processing = { }
    ${o.server ?? ''}`;
  const env = await startProbed({ dir, services: ['webmail', 'smtpIncoming', 'processing'], body });
  const port = env.server.port('webmail');
  return { ...env, port, base: `http://127.0.0.1:${port}`, smtpPort: env.server.port('smtpIncoming') };
}

export interface Reply {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  text: string;
}

/** curl -i's output: the status line and headers (past any 100 Continue block), then the body. */
export function parseCurlReply(out: Buffer): Reply {
  let rest = out;
  for (;;) {
    const end = rest.indexOf('\r\n\r\n');
    if (end < 0) throw new Error(`no HTTP header in curl's output: ${rest.toString('latin1').slice(0, 200)}`);
    const head = rest.subarray(0, end).toString('latin1');
    rest = rest.subarray(end + 4);
    const lines = head.split('\r\n');
    const status = Number(lines[0]!.split(' ')[1]);
    if (status === 100) continue;
    const headers: Record<string, string> = {};
    for (const l of lines.slice(1)) {
      const i = l.indexOf(':');
      const k = l.slice(0, i).trim().toLowerCase();
      const v = l.slice(i + 1).trim();
      headers[k] = headers[k] === undefined ? v : `${headers[k]}\n${v}`;
    }
    return { status, headers, body: rest, text: rest.toString('utf8') };
  }
}

export interface Browser {
  /** POST /login; resolves the reply (303 on success). */
  login(user: string, password: string, headers?: string[]): Promise<Reply>;
  get(pathAndQuery: string, headers?: string[]): Promise<Reply>;
  /** A form-encoded POST; `_csrf` (read from the last page that had one) added unless given. */
  post(pathname: string, form: Array<[string, string]>, headers?: string[]): Promise<Reply>;
  csrf: string;
  jar: string;
}

/** A curl "browser" on `base` with its own cookie jar. */
export function browser(base: string): Browser {
  const dir = tmpDir('postern-webmail-jar-');
  const jar = path.join(dir, 'cookies.txt');
  fs.writeFileSync(jar, '');
  const run = async (args: string[]): Promise<Reply> => {
    const out = path.join(dir, 'out.bin');
    const r = await runProcess('curl', ['-sS', '-i', '-b', jar, '-c', jar, '--max-time', '30', '-o', out, ...args], { timeoutMs: 40_000 });
    if (r.code !== 0) throw new Error(`curl failed (${r.code}): ${r.stderr}`);
    const reply = parseCurlReply(fs.readFileSync(out));
    const m = /name="_csrf" value="([^"]+)"/.exec(reply.text);
    if (m !== null) b.csrf = m[1]!;
    return reply;
  };
  const hdrs = (h: string[] = []): string[] => h.flatMap((x) => ['-H', x]);
  const b: Browser = {
    csrf: '',
    jar,
    login: (user, password, headers) => run([...hdrs(headers), '--data-urlencode', `username=${user}`, '--data-urlencode', `password=${password}`, `${base}/login`]),
    get: (p, headers) => run([...hdrs(headers), `${base}${p}`]),
    post(p, form, headers) {
      const all = form.some(([k]) => k === '_csrf') ? form : [...form, ['_csrf', b.csrf] as [string, string]];
      return run([...hdrs(headers), ...all.flatMap(([k, v]) => ['--data-urlencode', `${k}=${v}`]), `${base}${p}`]);
    },
  };
  return b;
}

/** Send one message with Python's smtplib. */
export async function smtpSend(port: number, from: string, to: string, message: string): Promise<void> {
  await python(`
import os, smtplib
with smtplib.SMTP('127.0.0.1', ${port}, timeout=20) as s:
    s.sendmail(os.environ['FROM'], [os.environ['TO']], os.environ['MSG'].encode('utf-8'))
`, { FROM: from, TO: to, MSG: message });
}
