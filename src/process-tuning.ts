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
 *  - `--max-semi-space-size=1` (MB), for the main thread only: the young generation of the main
 *    thread (which has no resource limits of its own) at most 2 × 1 MB; it grew to 8 MB in the
 *    accept flood and stayed resident. A V8 flag is process-wide and would win over the worker
 *    threads' own `resourceLimits` (measured on bench:smtp: 13 % fewer messages per second and
 *    0.29 instead of 0.25 ms CPU each), so when the tuning added it, `startServer` sets it back
 *    to 0 (`workerHeapFlags`) before it makes any thread: each worker then gets the young
 *    generation its `resourceLimits` give it. An operator's own value is left to apply to all.
 * A value the operator set wins: an environment variable already set is kept, and a
 * `--max-semi-space-size` already in the options (or in NODE_OPTIONS) is not added again.
 * `POSTERN_PROCESS_TUNING=off` turns it all off.
 *
 * Exports: `SERVER_ENV_DEFAULTS`, `SERVER_NODE_FLAGS`, `MAIN_ONLY_ENV`, `tunedLaunch`,
 * `TunedLaunch`, `workerHeapFlags`.
 * Throws: nothing.
 */
import v8 from 'node:v8';

/** Environment variables the server process gets unless the operator set them. */
export const SERVER_ENV_DEFAULTS: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '2' };

/** Node/V8 options the server process gets unless the operator gave the same option; they are
 * meant for the main thread only (`workerHeapFlags` resets them before any worker is made). */
export const SERVER_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1'];

/** The variable naming the flags the tuning added (space-separated names), so that
 * `workerHeapFlags` resets only those, never an operator's. */
export const MAIN_ONLY_ENV = 'POSTERN_MAIN_THREAD_FLAGS';

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
  if (add.length > 0) {
    changed = true;
    env[MAIN_ONLY_ENV] = add.map(flagName).join(' ');
  }
  return { env, execArgv: [...add, ...o.execArgv], changed };
}

/** In the server's main thread before it makes any worker: set the flags the tuning added back
 * to V8's default (0: the isolate's own resource limits decide), so they stay the main thread's.
 * Returns the flags reset. */
export function workerHeapFlags(env: NodeJS.ProcessEnv = process.env): string[] {
  const names = (env[MAIN_ONLY_ENV] ?? '').split(/\s+/).filter((n) => SERVER_NODE_FLAGS.some((f) => flagName(f) === n));
  for (const n of names) v8.setFlagsFromString(`${n}=0`);
  delete env[MAIN_ONLY_ENV];
  return names;
}
