/**
 * test/webmail/write-helpers.ts: what the WebMail writing tests share: a server running webmail,
 * processing (local delivery from the queue), pop3 and imap on port 0 beside the store probe, and
 * a browser-like client made of curl with a cookie jar (`-F` for multipart forms): log in, read
 * the CSRF token from a page, post forms, follow nothing (a 303 is returned as it is).
 *
 * Exports: `startWebmail`, `WebmailEnv`, `webClient`, `WebClient`, `WebReply`, `imapFolders`. Throws: startWebmail rejects when the server does not start.
 */
import fs from 'node:fs';
import path from 'node:path';
import { runProcess, tmpDir } from '../helpers.ts';
import { serviceBlock, startProbed, type ProbedServer } from '../probed.ts';
import { parseCurlReply } from './read-helpers.ts';

export interface WebmailEnv extends ProbedServer {
  port: number;
  base: string;
  pop3Port: number;
  imapPort: number;
}

/** `webmail`: extra attributes inside `webmail = { … }`. */
export async function startWebmail(o: { webmail?: string } = {}): Promise<WebmailEnv> {
  const dir = tmpDir('postern-webmail-write-');
  const body = `
    webmail = {
        listeners = ( { address = 127.0.0.1:0 } )
        minConnThreads = 1 maxConnThreads = 1
        ${o.webmail ?? ''}
    }
    processing = { }
    ${serviceBlock('pop3')}
    ${serviceBlock('imap')}`;
  const env = await startProbed({ dir, services: ['webmail', 'processing', 'pop3', 'imap'], body });
  const port = env.server.port('webmail');
  return { ...env, port, base: `http://127.0.0.1:${port}`, pop3Port: env.server.port('pop3'), imapPort: env.server.port('imap') };
}

export interface WebReply {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export interface WebClient {
  /** Log in (POST /login); resolves the CSRF token read from the compose page. */
  login(user: string, password: string): Promise<string>;
  get(pathAndQuery: string): Promise<WebReply>;
  /** A form-encoded POST; `_csrf` is added unless `csrf` is false (or the form has its own). */
  post(pathname: string, form: Array<[string, string]>, o?: { csrf?: boolean; headers?: string[] }): Promise<WebReply>;
  /** A multipart POST: fields as `name=value` (curl -F syntax is applied: files as `name=@path`). */
  postMultipart(pathname: string, fields: Array<[string, string]>, files?: Array<[string, string]>, o?: { csrf?: boolean; headers?: string[] }): Promise<WebReply>;
  /** The notice the last reply carried (its `postern_notice` cookie), decoded; '' if none. */
  notice(r: WebReply): string;
  csrf: string;
  dir: string;
}

function parse(out: string): WebReply {
  const r = parseCurlReply(Buffer.from(out));
  return { status: r.status, headers: r.headers, body: r.text };
}

export function webClient(base: string): WebClient {
  const dir = tmpDir('postern-webclient-');
  const jar = path.join(dir, 'cookies.txt');
  const run = async (args: string[]): Promise<WebReply> => {
    const r = await runProcess('curl', ['-sS', '-i', '-b', jar, '-c', jar, '--max-time', '30', ...args], { timeoutMs: 40_000 });
    if (r.code !== 0) throw new Error(`curl failed (${r.code}): ${r.stderr}`);
    return parse(r.stdout);
  };
  const c: WebClient = {
    csrf: '',
    dir,
    async login(user, password) {
      const r = await run(['--data-urlencode', `username=${user}`, '--data-urlencode', `password=${password}`, `${base}/login`]);
      if (r.status !== 303) throw new Error(`login: ${r.status} ${r.body.slice(0, 300)}`);
      const page = await c.get('/compose');
      const m = /name="_csrf" value="([^"]+)"/.exec(page.body);
      if (m === null) throw new Error(`no CSRF token on the compose page (${page.status})`);
      c.csrf = m[1]!;
      return c.csrf;
    },
    get: (p) => run([`${base}${p}`]),
    post(p, form, o = {}) {
      const all = o.csrf === false || form.some(([k]) => k === '_csrf') ? form : [...form, ['_csrf', c.csrf] as [string, string]];
      const args = all.flatMap(([k, v]) => ['--data-urlencode', `${k}=${v}`]);
      if (all.length === 0) args.push('--data', '');
      for (const h of o.headers ?? []) args.push('-H', h);
      return run([...args, `${base}${p}`]);
    },
    postMultipart(p, fields, files = [], o = {}) {
      const all = o.csrf === false ? fields : [...fields, ['_csrf', c.csrf] as [string, string]];
      // --form-string: a value is taken literally (no @file or <file)
      const args = all.flatMap(([k, v]) => ['--form-string', `${k}=${v}`]);
      for (const [k, file] of files) args.push('-F', `${k}=@${file}`);
      for (const h of o.headers ?? []) args.push('-H', h);
      return run([...args, `${base}${p}`]);
    },
    notice(r) {
      const m = /postern_notice=([^;]*)/.exec(r.headers['set-cookie'] ?? '');
      return m === null ? '' : decodeURIComponent(m[1]!);
    },
  };
  fs.writeFileSync(jar, '');
  return c;
}

/** Python imaplib: every folder's messages as { folder: [[uid, flags, rfc822 text]] }. */
export async function imapFolders(port: number, user: string, password: string): Promise<Record<string, Array<{ uid: number; flags: string[]; text: string }>>> {
  const script = `
import imaplib, json, re, sys
m = imaplib.IMAP4('127.0.0.1', ${port})
m.login(sys.argv[1], sys.argv[2])
out = {}
typ, boxes = m.list()
for b in boxes:
    name = b.decode().rsplit(' "/" ', 1)[1].strip('"')
    typ, _ = m.select('"' + name + '"', readonly=True)
    msgs = []
    typ, data = m.uid('FETCH', '1:*', '(UID FLAGS BODY.PEEK[])')
    for part in data:
        if isinstance(part, tuple):
            head = part[0].decode()
            uid = int(re.search(r'UID (\\d+)', head).group(1))
            flags = re.search(r'FLAGS \\(([^)]*)\\)', head).group(1).split()
            msgs.append([uid, flags, part[1].decode('utf-8', 'replace')])
    out[name] = msgs
m.logout()
print(json.dumps(out))
`;
  const r = await runProcess('python3', ['-c', script, user, password], { timeoutMs: 30_000 });
  if (r.code !== 0) throw new Error(`imaplib: ${r.stderr}`);
  const raw = JSON.parse(r.stdout) as Record<string, Array<[number, string[], string]>>;
  const out: Record<string, Array<{ uid: number; flags: string[]; text: string }>> = {};
  for (const [k, v] of Object.entries(raw)) out[k] = v.map(([uid, flags, text]) => ({ uid, flags, text }));
  return out;
}
