/**
 * bench/lib/child.ts: the benches' helpers around processes of their own: a load generator run
 * to its end, its result the last line of JSON it printed; cleanup when the bench is
 * interrupted.
 *
 * Exports: `runJsonChild(cmd, args, timeoutMs)`, `cleanupOnSignal(cleanup)`.
 * Throws: runJsonChild rejects when the child's last line is not JSON (it failed, or was killed
 * at `timeoutMs`), the message carrying its exit code and output.
 */
import { spawn } from 'node:child_process';

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
