/**
 * test/cluster/clients.ts: the real clients the cluster tests drive (Python's poplib, imaplib,
 * smtplib; curl; swaks), each run as a child process with a bounded time.
 *
 * Exports: `python(script, ms?)`, `run(cmd, args, ms?)`, `popRetrAll(host, port, user, pass)`
 * (every message's text, oldest first), `popTry(host, port, user, pass)` (the outcome of a
 * login: 'ok' | the server's error line | the client's exception), `smtpSend(host, port, from,
 * rcpts, text)` (smtplib: the refused recipients, or the exception). Throws nothing; results
 * carry the exit code and output.
 */
import { execFile } from 'node:child_process';

export interface Ran {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

export function run(cmd: string, args: readonly string[], timeoutMs = 30_000): Promise<Ran> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    execFile(cmd, [...args], { timeout: timeoutMs, encoding: 'utf8', maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr, ms: Date.now() - t0 });
    });
  });
}

export const python = (script: string, timeoutMs = 30_000): Promise<Ran> => run('python3', ['-c', script], timeoutMs);

const q = (s: string): string => JSON.stringify(s);

/** Every message of the maildrop (poplib RETR), as text, oldest first. Rejects on failure. */
export async function popRetrAll(host: string, port: number, user: string, pass: string): Promise<string[]> {
  const r = await python(`
import poplib, json
p = poplib.POP3(${q(host)}, ${port}, timeout=10)
p.user(${q(user)}); p.pass_(${q(pass)})
n = len(p.list()[1])
out = [b"\\r\\n".join(p.retr(i + 1)[1]).decode("utf-8", "replace") for i in range(n)]
p.quit()
print(json.dumps(out))`);
  if (r.code !== 0) throw new Error(`poplib ${user}@${host}:${port}: ${r.stderr.trim().split('\n').pop()}`);
  return JSON.parse(r.stdout) as string[];
}

/** A POP3 login's outcome: 'ok', or the error (the server's -ERR line, or the exception). */
export async function popTry(host: string, port: number, user: string, pass: string, timeoutS = 20): Promise<{ result: string; ms: number }> {
  const r = await python(`
import poplib
try:
    p = poplib.POP3(${q(host)}, ${port}, timeout=${timeoutS})
    p.user(${q(user)}); p.pass_(${q(pass)})
    p.stat()
    p.quit()
    print("ok")
except poplib.error_proto as e:
    print(e.args[0].decode("utf-8", "replace") if isinstance(e.args[0], bytes) else str(e))
except Exception as e:
    print("EXC " + type(e).__name__ + ": " + str(e))`, (timeoutS + 10) * 1000);
  return { result: r.stdout.trim() || `EXIT ${r.code} ${r.stderr.trim().split('\n').pop() ?? ''}`, ms: r.ms };
}

/** smtplib sendmail: 'ok' plus the refused recipients, or the exception's text. */
export async function smtpSend(host: string, port: number, from: string, rcpts: readonly string[], text: string): Promise<{ ok: boolean; refused: Record<string, [number, string]>; error: string | null }> {
  const r = await python(`
import smtplib, json
try:
    s = smtplib.SMTP(${q(host)}, ${port}, timeout=20)
    s.ehlo("client.test")
    refused = s.sendmail(${q(from)}, ${JSON.stringify(rcpts)}, ${q(text)}.encode())
    s.quit()
    print(json.dumps({"ok": True, "refused": {k: [v[0], v[1].decode()] for k, v in refused.items()}, "error": None}))
except smtplib.SMTPRecipientsRefused as e:
    print(json.dumps({"ok": False, "refused": {k: [v[0], v[1].decode()] for k, v in e.recipients.items()}, "error": "all recipients refused"}))
except Exception as e:
    print(json.dumps({"ok": False, "refused": {}, "error": type(e).__name__ + ": " + str(e)}))`);
  if (r.code !== 0) return { ok: false, refused: {}, error: r.stderr };
  return JSON.parse(r.stdout) as { ok: boolean; refused: Record<string, [number, string]>; error: string | null };
}
