/**
 * process-tuning.ts: the environment and Node options the server process runs with, for its
 * memory. Both must be in place before the process starts (glibc reads its malloc variables at
 * the first allocation, V8 its heap flags when an isolate is made), so `postern start`
 * (bin/postern.js) re-executes itself once with them, and the benches' server launcher
 * (bench/lib/server.ts) starts the server with them, so that it measures what an operator gets.
 *
 *   const t = tunedLaunch({ env: process.env, execArgv: process.execArgv });
 *   if (t.changed) process.execve(process.execPath, [process.execPath, ...t.execArgv, ...args], t.env);
 *
 * What, and what it saved on `bench/listeners.ts` (RSS of the idle server; with 10,000 idle
 * connections):
 *  - `MALLOC_ARENA_MAX=2`: glibc gives every thread that mallocs its own arena (the main
 *    thread, the store and connection threads, the V8 platform and libuv pool threads), each
 *    holding freed memory of its own; two arenas for all: ~3 MB idle, ~5–9 MB with connections.
 *  - `--max-semi-space-size=1` (MB): the young generation of every isolate, the main thread's
 *    included (it has no resource limits of its own), at most 2 × 1 MB; the main thread's grew to
 *    8 MB in the accept flood, the store's to 8 MB, and stayed resident: ~12 MB idle, ~20 MB with
 *    connections. (A V8 flag is process-wide: it also caps the workers' `resourceLimits`.)
 * A value the operator set wins: an environment variable already set is kept, and a
 * `--max-semi-space-size` already in the options (or in NODE_OPTIONS) is not added again.
 * `POSTERN_PROCESS_TUNING=off` turns it all off.
 *
 * Exports: `SERVER_ENV_DEFAULTS`, `SERVER_NODE_FLAGS`, `tunedLaunch`, `TunedLaunch`.
 * Throws: nothing.
 */

/** Environment variables the server process gets unless the operator set them. */
export const SERVER_ENV_DEFAULTS: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '2' };

/** Node/V8 options the server process gets unless the operator gave the same option. */
export const SERVER_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1'];

export interface TunedLaunch {
  /** The environment to start the server with. */
  env: NodeJS.ProcessEnv;
  /** Node options to start it with: the given ones and the missing tuning flags before them. */
  execArgv: string[];
  /** False when `env` and `execArgv` already have everything (no re-exec needed). */
  changed: boolean;
}

const flagName = (f: string): string => f.split('=')[0]!.replace(/_/g, '-');

/** The launch of a server process from the current `env` and Node options `execArgv`. */
export function tunedLaunch(o: { env: NodeJS.ProcessEnv; execArgv: readonly string[] }): TunedLaunch {
  const env: NodeJS.ProcessEnv = { ...o.env };
  if (env.POSTERN_PROCESS_TUNING === 'off') return { env, execArgv: [...o.execArgv], changed: false };
  let changed = false;
  for (const [k, v] of Object.entries(SERVER_ENV_DEFAULTS)) {
    if (env[k] === undefined) {
      env[k] = v;
      changed = true;
    }
  }
  const given = new Set([...o.execArgv, ...(env.NODE_OPTIONS ?? '').split(/\s+/)].filter((a) => a.startsWith('--')).map(flagName));
  const add = SERVER_NODE_FLAGS.filter((f) => !given.has(flagName(f)));
  if (add.length > 0) changed = true;
  return { env, execArgv: [...add, ...o.execArgv], changed };
}
