/**
 * bench/webmail/roundcube.ts: a throwaway Roundcube (Debian `roundcube-core` +
 * `roundcube-sqlite3`) on PHP's built-in server, the peer of bench/webmail.ts.
 *
 * Everything it reads as configuration or writes is in a temp dir of its own:
 *   config/config.inc.php   a copy of bench/webmail/config.inc.php (values from the environment)
 *   config/defaults.inc.php a link to the package's defaults (read, never changed)
 *   php/zz-postern-bench.ini a copy of bench/webmail/php.ini, added through PHP_INI_SCAN_DIR
 *                           (the package's scan dir stays, so its extensions load)
 *   roundcube.db            the SQLite database, made from the package's SQL/sqlite.initial.sql
 *   logs/ temp/             Roundcube's log and temp dirs; php.log the server's own output
 * and it runs `php -S 127.0.0.1:PORT -t <the package's public_html>` with ROUNDCUBE_CONFIG_DIR
 * (read by Roundcube's program/include/iniset.php) pointing at config/, and
 * PHP_CLI_SERVER_WORKERS worker processes (the built-in server forks them; each takes requests
 * from the shared socket). Nothing under /etc is written.
 *
 * Exports: `roundcubeInstalled()` (null, or why it cannot run), `startRoundcube(opts)` →
 * `RoundcubePeer` (port, dir, pids(), cpuSeconds() of the PHP processes, errorLog(), stop()).
 * Throws: startRoundcube rejects when PHP or Roundcube is missing, the database cannot be made,
 * or the server does not answer GET /?_task=login with 200 within `startTimeoutMs` (its output's
 * tail in the message); stop() never throws.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../lib/net.ts';
import { descendants, treeCpuSeconds } from '../lib/proc.ts';

const HERE = path.dirname(fileURLToPath(import.meta.url));

/** Where Debian's package puts Roundcube (public dir, install dir, defaults), then upstream's
 * layout (the install dir is the document root, defaults in its config/). */
const LAYOUTS = [
  { docroot: '/var/lib/roundcube/public_html', install: '/usr/share/roundcube', defaults: '/etc/roundcube/defaults.inc.php' },
  { docroot: '/usr/share/roundcube', install: '/usr/share/roundcube', defaults: '/usr/share/roundcube/config/defaults.inc.php' },
] as const;

function layout(): (typeof LAYOUTS)[number] | null {
  for (const l of LAYOUTS) {
    if (fs.existsSync(path.join(l.docroot, 'index.php')) && fs.existsSync(l.defaults) && fs.existsSync(path.join(l.install, 'SQL', 'sqlite.initial.sql'))) return l;
  }
  return null;
}

/** PHP's default scan dir for extra .ini files (the extensions' own), from `php --ini`. */
function phpScanDir(): string {
  const r = spawnSync('php', ['--ini'], { encoding: 'utf8' });
  const m = /Scan for additional \.ini files in:\s*(\S+)/.exec(r.stdout ?? '');
  return m?.[1] === '(none)' ? '' : (m?.[1] ?? '');
}

/** null when Roundcube can run here, else what is missing. */
export function roundcubeInstalled(): string | null {
  const php = spawnSync('php', ['-m'], { encoding: 'utf8' });
  if (php.status !== 0) return 'php is not installed (apt-get install php-cli)';
  for (const ext of ['pdo_sqlite', 'mbstring', 'intl', 'dom']) {
    if (!new RegExp(`^${ext}$`, 'mi').test(php.stdout)) return `PHP's ${ext} extension is missing (apt-get install roundcube-core roundcube-sqlite3)`;
  }
  if (layout() === null) return 'Roundcube is not installed (apt-get install roundcube-core roundcube-sqlite3)';
  return null;
}

export interface RoundcubeOptions {
  /** host:port of the IMAP server Roundcube reads from. */
  imap: string;
  /** PHP_CLI_SERVER_WORKERS: worker processes of the built-in server. */
  workers: number;
  /** Parent of the temp dir (default: the OS temp dir). */
  parentDir?: string;
  startTimeoutMs?: number;
}

export interface RoundcubePeer {
  readonly port: number;
  readonly origin: string;
  readonly dir: string;
  /** The server process and its workers. */
  pids(): number[];
  /** CPU seconds of the PHP processes (utime+stime+cutime+cstime). */
  cpuSeconds(): number;
  /** The first lines of Roundcube's errors log ('' when there is none). */
  errorLog(lines?: number): string;
  stop(): Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function startRoundcube(o: RoundcubeOptions): Promise<RoundcubePeer> {
  const missing = roundcubeInstalled();
  if (missing !== null) throw new Error(missing);
  const l = layout()!;
  const dir = fs.mkdtempSync(path.join(o.parentDir ?? os.tmpdir(), 'postern-roundcube-'));
  for (const d of ['config', 'php', 'logs', 'temp']) fs.mkdirSync(path.join(dir, d));
  fs.copyFileSync(path.join(HERE, 'config.inc.php'), path.join(dir, 'config', 'config.inc.php'));
  fs.symlinkSync(l.defaults, path.join(dir, 'config', 'defaults.inc.php'));
  fs.copyFileSync(path.join(HERE, 'php.ini'), path.join(dir, 'php', 'zz-postern-bench.ini'));
  const db = path.join(dir, 'roundcube.db');
  const made = spawnSync('php', ['-r', '$db = new PDO("sqlite:" . $argv[1]); $db->exec(file_get_contents($argv[2])); echo "ok";', db, path.join(l.install, 'SQL', 'sqlite.initial.sql')], { encoding: 'utf8' });
  if (made.stdout !== 'ok') throw new Error(`could not make Roundcube's SQLite database: ${made.stderr}${made.stdout}`);

  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  const logFd = fs.openSync(path.join(dir, 'php.log'), 'a');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ROUNDCUBE_CONFIG_DIR: path.join(dir, 'config'),
    PHP_INI_SCAN_DIR: `${phpScanDir()}:${path.join(dir, 'php')}`,
    PHP_CLI_SERVER_WORKERS: String(o.workers),
    POSTERN_BENCH_RC_DB: db,
    POSTERN_BENCH_RC_IMAP: o.imap,
    POSTERN_BENCH_RC_DIR: dir,
    POSTERN_BENCH_RC_KEY: crypto.randomBytes(18).toString('base64'), // 24 characters
  };
  // its own process group, so stop() reaches the workers the server forked
  const child: ChildProcess = spawn('php', ['-S', `127.0.0.1:${port}`, '-t', l.docroot], { env, stdio: ['ignore', logFd, logFd], detached: true });
  fs.closeSync(logFd);
  let exited = false;
  const exit = new Promise<void>((resolve) => child.once('exit', () => ((exited = true), resolve())));
  const pid = child.pid!;
  const killGroup = (sig: NodeJS.Signals): void => {
    try {
      process.kill(-pid, sig);
    } catch {
      /* gone */
    }
  };
  const onExit = (): void => killGroup('SIGKILL');
  process.on('exit', onExit);
  const tail = (file: string, n = 20): string => {
    try {
      return fs.readFileSync(path.join(dir, file), 'utf8').split('\n').slice(-n).join('\n');
    } catch {
      return '';
    }
  };
  let stopped: Promise<void> | null = null;
  const peer: RoundcubePeer = {
    port,
    origin,
    dir,
    pids: () => descendants(pid),
    cpuSeconds: () => treeCpuSeconds(descendants(pid)),
    errorLog: (n = 10) => {
      try {
        return fs.readFileSync(path.join(dir, 'logs', 'errors.log'), 'utf8').split('\n').slice(0, n).join('\n').trim();
      } catch {
        return '';
      }
    },
    stop() {
      stopped ??= (async () => {
        process.off('exit', onExit);
        killGroup('SIGTERM');
        const t = setTimeout(() => killGroup('SIGKILL'), 5000);
        await exit;
        clearTimeout(t);
        killGroup('SIGKILL'); // a worker the server left behind
        fs.rmSync(dir, { recursive: true, force: true });
      })();
      return stopped;
    },
  };

  const until = Date.now() + (o.startTimeoutMs ?? 20_000);
  for (;;) {
    if (exited) {
      const why = `${tail('php.log')}\n${tail('logs/errors.log')}`;
      await peer.stop();
      throw new Error(`php -S exited at once: ${why}`);
    }
    try {
      const r = await fetch(`${origin}/?_task=login`, { signal: AbortSignal.timeout(5000) });
      const body = await r.text();
      if (r.status === 200 && body.includes('name="_token"')) break;
      if (Date.now() > until) throw new Error(`GET /?_task=login: HTTP ${r.status}: ${body.slice(0, 300)}`);
    } catch (e) {
      if (Date.now() > until) {
        const why = `${(e as Error).message}\n${tail('php.log')}\n${tail('logs/errors.log')}`;
        await peer.stop();
        throw new Error(`Roundcube did not answer within ${o.startTimeoutMs ?? 20_000} ms: ${why}`);
      }
    }
    await sleep(100);
  }
  return peer;
}
