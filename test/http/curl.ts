/**
 * test/http/curl.ts: one HTTP exchange with curl (a new connection each call): the status, the
 * headers (lower-case names; `set-cookie` and repeated headers as arrays) and the body.
 */
import { runProcess } from '../helpers.ts';

export interface CurlReply {
  status: number;
  headers: Record<string, string[]>;
  body: string;
  header(name: string): string | undefined;
}

export async function curl(url: string, args: string[] = [], timeoutMs = 20_000): Promise<CurlReply> {
  const r = await runProcess('curl', ['-sS', '-i', '-k', '--max-time', String(Math.ceil(timeoutMs / 1000)), ...args, url], { timeoutMs: timeoutMs + 5000 });
  if (r.code !== 0) throw new Error(`curl ${url} failed (${r.code}): ${r.stderr}`);
  let text = r.stdout;
  // a `100 Continue` interim response comes first when curl sent Expect
  while (/^HTTP\/[\d.]+ 100/.test(text)) text = text.slice(text.indexOf('\r\n\r\n') + 4);
  const end = text.indexOf('\r\n\r\n');
  const head = end < 0 ? text : text.slice(0, end);
  const body = end < 0 ? '' : text.slice(end + 4);
  const [statusLine, ...lines] = head.split('\r\n');
  const status = Number(/^HTTP\/[\d.]+ (\d{3})/.exec(statusLine ?? '')?.[1] ?? 0);
  const headers: Record<string, string[]> = {};
  for (const l of lines) {
    const i = l.indexOf(':');
    if (i <= 0) continue;
    (headers[l.slice(0, i).trim().toLowerCase()] ??= []).push(l.slice(i + 1).trim());
  }
  return { status, headers, body, header: (n) => headers[n.toLowerCase()]?.[0] };
}

/** The `name=value` of the session cookie a reply set (for a `Cookie:` header), or null. */
export function cookieOf(r: CurlReply, name = 'postern_session'): string | null {
  for (const c of r.headers['set-cookie'] ?? []) {
    const first = c.split(';')[0]!.trim();
    if (first.startsWith(`${name}=`)) return first;
  }
  return null;
}
