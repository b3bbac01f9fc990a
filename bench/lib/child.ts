/**
 * bench/lib/child.ts: the benches' helpers around processes of their own: a load generator run
 * to its end, its result the last line of JSON it printed; cleanup when the bench is
 * interrupted.
 *
 * Exports: `runJsonChild(cmd, args, timeoutMs)`, `cleanupOnSignal(cleanup)`, `buildC(name)` (a C
 * load generator of bench/, built once).
 * Throws: runJsonChild rejects when the child's last line is not JSON (it failed, or was killed
 * at `timeoutMs`), the message carrying its exit code and output.
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Build bench/<name>.c (with bench/loadgen.h) with `cc -O2` into the temp dir, unless the
 * binary there is newer than both; the binary's path. Throws when cc fails. */
export function buildC(name: string): string {
  const src = fileURLToPath(new URL(`../${name}.c`, import.meta.url));
  const header = fileURLToPath(new URL('../loadgen.h', import.meta.url));
  const out = path.join(os.tmpdir(), `postern-${name}-${process.getuid?.() ?? 'u'}`);
  const newest = Math.max(fs.statSync(src).mtimeMs, fs.statSync(header).mtimeMs);
  if (!fs.existsSync(out) || fs.statSync(out).mtimeMs < newest) execFileSync('cc', ['-O2', '-o', out, src], { stdio: 'inherit' });
  return out;
}

/** Run `cmd args` (stderr passed through), SIGKILL it after `timeoutMs`; resolves the last line
 * of its stdout, parsed as JSON. */
export function runJsonChild<T>(cmd: string, args: readonly string[], timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('exit', (code) => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(out.trim().split('\n').pop() ?? '') as T);
      } catch {
        reject(new Error(`load generator failed (code ${code}): ${out}`));
      }
    });
  });
}

/** On SIGINT or SIGTERM: run `cleanup` (stop the servers, remove the work dir), then exit 130. */
export function cleanupOnSignal(cleanup: () => Promise<void>): void {
  const onSignal = (): void => void cleanup().finally(() => process.exit(130));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
}
