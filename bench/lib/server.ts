/**
 * bench/lib/server.ts: a Postern server as a child process for benchmarks, so that its memory
 * and CPU are measured apart from the load generator's; and the open-file-limit helpers.
 *
 * `startPosternProcess({ configText, protocolOverrides?, env?, nofile? })` runs (with Node's compile
 * cache and the environment and Node options of src/process-tuning.ts, as `postern start` does)
 * bench/lib/launch.ts with process.execPath under `bash -c 'ulimit -n N …; exec …'` (when the
 * limit cannot be raised to N it tries the hard limit, then keeps the current one; `nofile` on
 * the result is the limit in use) with a fresh temp data directory (or `dataDir`), and resolves once the server
 * listens. The result gives the server's pid, bound ports, /status, its RSS (VmRSS of
 * /proc/<pid>/status; the connection threads are threads of that one process, so that is the
 * whole server) and CPU time (utime+stime of /proc/<pid>/stat, all threads), and `stop()`
 * (SIGTERM, then SIGKILL after `timeoutMs`; removes the data directory). A child still running
 * when this process exits is killed.
 *
 * `ensureNofile(n)`: a process cannot raise its own open-file limit from JavaScript, so a bench
 * that needs many sockets calls this first: unless already re-executed (env
 * POSTERN_BENCH_NOFILE set), it re-runs the same script under `bash -c 'ulimit -n n; exec …'`
 * with stdio passed through, and exits with the child's code; in the re-executed process it
 * returns the limit in use.
 *
 * Exports: `startPosternProcess`, `ensureNofile`, `nofileLimit`, `procRssBytes`,
 * `procCpuSeconds`, `selfCpuSeconds`, types `PosternProcess`, `PosternProcessOptions`.
 * Throws: startPosternProcess rejects when the server fails to start or does not report within
 * `startTimeoutMs` (the child is killed); reading /proc of a gone process throws ENOENT.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { StatusDoc } from '../../src/status/types.ts';
import { tunedLaunch } from '../../src/process-tuning.ts';
import { clockTicks } from './proc.ts';

const LAUNCH = fileURLToPath(new URL('./launch.ts', import.meta.url));
const REEXEC_ENV = 'POSTERN_BENCH_NOFILE';

/** bash: raise the soft limit to $N, else to the hard limit, else keep it; then exec "$0" "$@". */
const ULIMIT_SCRIPT = 'ulimit -n "$POSTERN_NOFILE_WANT" 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true; exec "$0" "$@"';

export interface PosternProcessOptions {
  /** The configuration file's text (seed syntax). Its statusListener host is used; the port is 0. */
  configText: string;
  /** Protocol modules (URLs) to run in service slots, as startServer's `protocolOverrides`. */
  protocolOverrides?: Record<string, string>;
  /** Extra environment for the server (e.g. POSTERN_LOG_LEVEL). */
  env?: Record<string, string>;
  /** Open-file limit to run the server under (default: the current limit). */
  nofile?: number;
  /** Status endpoint host (default 127.0.0.1, as the benches configure it). */
  statusHost?: string;
  /** Give up starting after this long (default 20 s). */
  startTimeoutMs?: number;
  /** Called with every stdout/stderr line of the server that is not the launch line. */
  onLine?: (line: string) => void;
  /** Run on this data directory (e.g. a store the bench filled beforehand) instead of a fresh
   * temp one; it is left in place on stop. */
  dataDir?: string;
}

export interface PosternProcess {
  readonly pid: number;
  readonly statusPort: number;
  /** The open-file limit the server runs under. */
  readonly nofile: number | null;
  /** Bound ports of a running service, one per listener in config order ([] if not running). */
  ports(service: string): number[];
  /** Bound port of a service's listener (throws if there is none). */
  port(service: string, listenerIndex?: number): number;
  /** Server RSS in bytes (VmRSS: the process, all its threads). */
  rssBytes(): number;
  /** Server CPU time in seconds (user + system, all its threads). */
  cpuSeconds(): number;
  /** GET /status. */
  status(): Promise<StatusDoc>;
  /** The last lines the server wrote (stdout and stderr), for error reports. */
  output(): string;
  /** SIGTERM; SIGKILL after `timeoutMs` (default 15 s). Resolves when the process has exited. */
  stop(timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** A bench server's config: one service (`service`) on one listener at 127.0.0.1:0 with no
 * connection limits (the load generator opens thousands from one address), `threads`
 * connection threads (default 2), errors-only logging. */
export function benchConfig(service: string, o: { domain?: string; threads?: number } = {}): string {
  return `
Server {
    services = (${service})
    ${o.domain !== undefined ? `primaryDomain = "${o.domain}"` : ''}
    statusListener = 127.0.0.1:0
    logLevel = error
    ${service} = {
        listeners = ( {
            address = 127.0.0.1:0
            maxConnections = 20000
            peerMaxConnections = 20000
            maxIntervalConnections = 0
            peerMaxIntervalConnections = 0
        } )
        minConnThreads = ${o.threads ?? 2}
        maxConnThreads = ${o.threads ?? 2}
    }
}`;
}

/** VmRSS of a process, bytes. */
export function procRssBytes(pid: number | 'self'): number {
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (m === null) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(m[1]) * 1024;
}

/** utime + stime of a process (all threads), seconds. */
export function procCpuSeconds(pid: number | 'self'): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // fields after the command name (which may hold spaces) start at field 3 (state)
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / clockTicks(); // fields 14 and 15
}

/** This process's CPU time (user + system, all threads), seconds. */
export function selfCpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/** Soft open-file limit of a process (null if unknown; Infinity if unlimited). */
export function nofileLimit(pid: number | 'self' = 'self'): number | null {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(fs.readFileSync(`/proc/${pid}/limits`, 'utf8'));
    if (m === null) return null;
    return m[1] === 'unlimited' ? Number.POSITIVE_INFINITY : Number(m[1]);
  } catch {
    return null;
  }
}

/**
 * Make sure this script runs under an open-file limit of `n` (or the hard limit, if lower): the
 * first call re-executes the script under bash's `ulimit -n` and never returns (this process
 * exits with the child's code); in the re-executed script it returns the limit in use.
 */
export async function ensureNofile(n: number): Promise<number | null> {
  const have = nofileLimit();
  if (process.env[REEXEC_ENV] !== undefined || (have !== null && have >= n)) return have;
  const child = spawn('bash', ['-c', ULIMIT_SCRIPT, process.execPath, ...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, [REEXEC_ENV]: String(n), POSTERN_NOFILE_WANT: String(n) },
  });
  const forward = (sig: NodeJS.Signals) => (): void => void child.kill(sig);
  const onTerm = forward('SIGTERM');
  const onInt = forward('SIGINT');
  process.on('SIGTERM', onTerm);
  process.on('SIGINT', onInt);
  const code = await new Promise<number>((resolve) => {
    child.on('error', () => resolve(1));
    child.on('exit', (c, sig) => resolve(c ?? (sig !== null ? 128 + (os.constants.signals[sig] ?? 0) : 1)));
  });
  process.exit(code);
}

export async function startPosternProcess(opts: PosternProcessOptions): Promise<PosternProcess> {
  const dataDir = opts.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'postern-bench-'));
  const launchArgs = JSON.stringify({ configText: opts.configText, dataDir, protocolOverrides: opts.protocolOverrides });
  const base: NodeJS.ProcessEnv = { ...process.env, ...opts.env };
  delete base[REEXEC_ENV];
  // the environment and Node options `postern start` re-executes itself with (src/process-tuning.ts)
  const tuned = tunedLaunch({ env: base, execArgv: [] });
  const nodeArgs = [...tuned.execArgv, LAUNCH, launchArgs];
  const env = tuned.env;
  // the server runs as `postern start` runs it (bin/postern.js): with Node's compile cache, so
  // that no thread strips and compiles the TypeScript again (about half a thread's memory)
  env.NODE_COMPILE_CACHE ??= path.join(os.tmpdir(), `postern-compile-cache-${process.getuid?.() ?? 'u'}`);
  let child: ChildProcess;
  if (opts.nofile !== undefined) {
    env.POSTERN_NOFILE_WANT = String(opts.nofile);
    child = spawn('bash', ['-c', ULIMIT_SCRIPT, process.execPath, ...nodeArgs], { stdio: ['pipe', 'pipe', 'pipe'], env });
  } else {
    child = spawn(process.execPath, nodeArgs, { stdio: ['pipe', 'pipe', 'pipe'], env });
  }

  const tail: string[] = [];
  const remember = (line: string): void => {
    tail.push(line);
    if (tail.length > 50) tail.shift();
    opts.onLine?.(line);
  };
  let exited = false;
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      exited = true;
      resolve({ code, signal });
    });
  });
  const killOnExit = (): void => {
    if (!exited) child.kill('SIGKILL');
  };
  process.on('exit', killOnExit);
  const cleanup = (): void => {
    process.off('exit', killOnExit);
    if (opts.dataDir === undefined) fs.rmSync(dataDir, { recursive: true, force: true });
  };
  child.stdin!.on('error', () => {});

  interface Ready {
    pid?: number;
    statusPort?: number;
    nofile?: number | null;
    ports?: Record<string, number[]>;
    error?: { code: string; message: string };
  }
  const ready = await new Promise<Ready>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the server did not start within ${opts.startTimeoutMs ?? 20_000} ms`)), opts.startTimeoutMs ?? 20_000);
    let found = false;
    const lines = (stream: NodeJS.ReadableStream, isStdout: boolean): void => {
      let buf = '';
      stream.setEncoding('utf8');
      stream.on('data', (d: string) => {
        buf += d;
        let i: number;
        while ((i = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          if (isStdout && !found && line.startsWith('{"posternLaunch":1')) {
            found = true;
            clearTimeout(timer);
            try {
              resolve(JSON.parse(line) as Ready);
            } catch (e) {
              reject(e as Error);
            }
          } else remember(line);
        }
      });
    };
    lines(child.stdout!, true);
    lines(child.stderr!, false);
    void exit.then(({ code, signal }) => {
      clearTimeout(timer);
      if (!found) reject(new Error(`the server exited while starting (code ${code}, signal ${signal}):\n${tail.join('\n')}`));
    });
  }).catch(async (e: unknown) => {
    killOnExit();
    await exit;
    cleanup();
    throw e;
  });
  if (ready.error !== undefined || ready.pid === undefined || ready.statusPort === undefined) {
    killOnExit();
    await exit;
    cleanup();
    throw new Error(`the server did not start: ${ready.error?.code ?? '?'}: ${ready.error?.message ?? 'no pid/status port reported'}`);
  }

  const pid = ready.pid;
  const statusPort = ready.statusPort;
  const ports = ready.ports ?? {};
  const statusUrl = `http://${opts.statusHost ?? '127.0.0.1'}:${statusPort}/status`;
  let stopping: Promise<{ code: number | null; signal: NodeJS.Signals | null }> | null = null;

  return {
    pid,
    statusPort,
    nofile: ready.nofile ?? null,
    ports: (service) => [...(ports[service] ?? [])],
    port(service, listenerIndex = 0) {
      const p = ports[service]?.[listenerIndex];
      if (p === undefined) throw new Error(`service ${service} has no listener ${listenerIndex}`);
      return p;
    },
    rssBytes: () => procRssBytes(pid),
    cpuSeconds: () => procCpuSeconds(pid),
    async status() {
      const r = await fetch(statusUrl, { signal: AbortSignal.timeout(10_000) });
      if (!r.ok) throw new Error(`${statusUrl}: HTTP ${r.status}`);
      return (await r.json()) as StatusDoc;
    },
    output: () => tail.join('\n'),
    stop(timeoutMs = 15_000) {
      stopping ??= (async () => {
        if (!exited) child.kill('SIGTERM');
        const timer = setTimeout(killOnExit, timeoutMs);
        const r = await exit;
        clearTimeout(timer);
        child.stdin!.destroy();
        cleanup();
        return r;
      })();
      return stopping;
    },
  };
}
