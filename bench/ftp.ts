/**
 * bench/ftp.ts: mirroring a domain over FTP with lftp, from Postern's ftpBackup service (the
 * virtual tree generated from its store) and from vsftpd (Debian `vsftpd`) serving the same
 * files from disk, in the same run, on loopback (`npm run bench:ftp`).
 *
 * The domain bench.example has ACCOUNTS accounts × MESSAGES messages (1–8 KiB, ~4 KiB on
 * average, CRLF lines), put into Postern's store through the store API before the server
 * starts. A first, unmeasured `lftp mirror` from Postern makes the copy on disk that vsftpd
 * then serves (anonymous, read-only, chrooted to it): the same files, byte for byte. Then, in
 * alternation, measured mirrors of the whole domain from each server into fresh directories:
 *   - "same commands": `ftp:use-mlsd no`, `ftp:use-mdtm no`: LIST per directory, then PASV and
 *     RETR per file on both servers (an identical command stream);
 *   - "lftp defaults": each server's best: MLSD on Postern; LIST and MDTM per file on vsftpd;
 *   each with 1 and 4 parallel transfers (`mirror -P`).
 * Each cell is REPEAT (default 3, BENCH_FTP_REPEAT) runs of each server, alternating between
 * them; the table shows the best and the median files/s, the ratio is on the medians.
 * The measured copies are written to a memory file system (COPY_ROOT: /dev/shm when there is
 * one, BENCH_FTP_COPY_DIR to choose) and removed after each run: on a disk file system (ext4)
 * creating 10,000 files just after 10,000 were deleted costs lftp most of its CPU (the inode
 * allocator's `recently_deleted` scan: 60–80 % of its CPU in `perf`), which then paced every
 * run whatever the server, and more the more runs came before.
 * Reported: files/s, MB/s (10^6 bytes), the ratio Postern ÷ vsftpd, and each server's CPU time
 * in the run (Postern: its process, all threads; vsftpd: its listener and the reaped session
 * processes; lftp: its CPU time as a reaped child), per file; each copy is checked (file count
 * and bytes equal to the source).
 * Target (issue 18): ≥ 1.0 × vsftpd's files/s (medians) in every cell. The JSON line carries
 * `headline` (bench/lib/table.ts): one row per cell (files/s, medians) and the CPU per file over
 * all runs, with vsftpd's from the same runs.
 * vsftpd runs from a configuration file of the bench's own in its temp dir (`vsftpd FILE`).
 * lftp and vsftpd are installed with apt if missing (test/tools.ts).
 * Every run is bounded (RUN_TIMEOUT_MS). Prints the table, then exactly one line of JSON.
 * Exit 0 even when the target is missed (the table says so); 1 on a setup failure.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Store } from '../src/store/store.ts';
import { procCpuSeconds, startPosternProcess, type PosternProcess } from './lib/server.ts';
import { printJsonLine, printTable, type Headline } from './lib/table.ts';
import { freePort } from './lib/net.ts';
import { clockTicks, treeCpuSeconds } from './lib/proc.ts';
import { accessible, ensureTools } from '../test/tools.ts';

const ACCOUNTS = Number(process.env.BENCH_FTP_ACCOUNTS ?? 10);
const MESSAGES = Number(process.env.BENCH_FTP_MESSAGES ?? 1000);
const DOMAIN = 'bench.example';
const PASSWORD = 'bench-admin-pw';
const RUN_TIMEOUT_MS = 10 * 60_000;
const MB = 1_000_000;
/** Quick forms: BENCH_FTP_PARALLEL=1 and/or BENCH_FTP_MODES="same commands" run fewer cells. */
const PARALLEL = (process.env.BENCH_FTP_PARALLEL ?? '1,4').split(',').map(Number);
/** Each cell is REPEAT runs of each server, alternating between them; best and median are
 * reported, the ratio is on the medians. */
const REPEAT = Math.max(1, Number(process.env.BENCH_FTP_REPEAT ?? process.env.BENCH_RUNS ?? 3));
/** Issue 18: Postern at least vsftpd's files/s in every cell (medians). */
const TARGET = 1.0;
const MODES = {
  'same commands': 'set ftp:use-mlsd no; set ftp:use-mdtm no;',
  'lftp defaults': '',
} as const;
type Mode = keyof typeof MODES;
const RUN_MODES = (process.env.BENCH_FTP_MODES?.split(',') ?? Object.keys(MODES)) as Mode[];
/** Where the measured copies go (a directory of their own under it, removed at the end). */
const COPY_ROOT = process.env.BENCH_FTP_COPY_DIR ?? (accessible('/dev/shm', fs.constants.W_OK, 'dir') ? '/dev/shm' : os.tmpdir());
/** Node options for the server child only (a profile: `--cpu-prof --cpu-prof-dir=DIR`). */
const SERVER_NODE_OPTIONS = process.env.BENCH_FTP_SERVER_NODE_OPTIONS;
/** A file to which the server child's output lines go (e.g. with `--trace-gc`). */
const SERVER_OUTPUT = process.env.BENCH_FTP_SERVER_OUTPUT;

const round1 = (x: number): number => Math.round(x * 10) / 10;
const round2 = (x: number): number => Math.round(x * 100) / 100;

/** The k-th message of account u: 1–8 KiB, the same bytes for the same (u, k). */
function messageBytes(u: number, k: number): Buffer {
  const size = 1024 + (((u * 7919 + k * 104_729) % 7169) + 0);
  const head = `From: sender@${DOMAIN}\r\nTo: user${u}@${DOMAIN}\r\nSubject: bench ${u}.${k}\r\nMessage-ID: <${u}.${k}@${DOMAIN}>\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n\r\n`;
  const line = `message ${u}.${k}: the quick brown fox jumps over the lazy dog.`.padEnd(76, '.') + '\r\n';
  let body = '';
  while (head.length + body.length + line.length <= size) body += line;
  return Buffer.from(`${head}${body}end\r\n`);
}

async function fillStore(dataDir: string): Promise<{ files: number; bytes: number }> {
  const store = await new Store({ dataDir, compactIntervalMs: 0 }).open();
  let bytes = 0;
  try {
    await store.directory.addDomain(DOMAIN);
    await store.directory.setAdminPassword(PASSWORD);
    for (let u = 0; u < ACCOUNTS; u++) {
      await store.directory.addAccount(`user${u}@${DOMAIN}`, { password: `pw${u}` });
      const mb = store.mailbox(`user${u}@${DOMAIN}`);
      let next = 0;
      await Promise.all(Array.from({ length: 64 }, async () => {
        while (next < MESSAGES) {
          const b = messageBytes(u, next++);
          bytes += b.length;
          await mb.append('INBOX', b);
        }
      }));
    }
  } finally {
    await store.close();
  }
  return { files: ACCOUNTS * MESSAGES, bytes };
}


async function startVsftpd(root: string, work: string): Promise<{ port: number; proc: ChildProcess }> {
  const port = await freePort();
  const empty = path.join(work, 'vsftpd-empty');
  fs.mkdirSync(empty, { recursive: true });
  const conf = path.join(work, 'vsftpd.conf');
  fs.writeFileSync(conf, [
    'listen=YES', 'listen_ipv6=NO', 'listen_address=127.0.0.1', `listen_port=${port}`, 'background=NO',
    'anonymous_enable=YES', 'no_anon_password=YES', `anon_root=${root}`, 'local_enable=NO', 'write_enable=NO',
    'seccomp_sandbox=NO', 'isolate=NO', 'isolate_network=NO', 'pasv_enable=YES', 'pasv_min_port=32000', 'pasv_max_port=32999',
    'xferlog_enable=NO', 'dirmessage_enable=NO', `secure_chroot_dir=${empty}`, 'max_clients=200', 'max_per_ip=200', 'hide_ids=YES', '',
  ].join('\n'));
  const proc = spawn('/usr/sbin/vsftpd', [conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  for (let i = 0; i < 100; i++) {
    const up = await new Promise<boolean>((r) => {
      const s = net.connect(port, '127.0.0.1', () => (s.destroy(), r(true)));
      s.on('error', () => r(false));
    });
    if (up) return { port, proc };
    if (proc.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  proc.kill('SIGKILL');
  throw new Error(`vsftpd did not start: ${err}`);
}

/** lftp's debug log (`debug -t`, with times) of each measured run goes to `<this>.<n>` when set. */
const LFTP_DEBUG = process.env.BENCH_FTP_LFTP_DEBUG;
let lftpRuns = 0;

function lftp(port: number, user: string, src: string, dest: string, settings: string, parallel: number): Promise<number> {
  const debug = LFTP_DEBUG === undefined ? '' : `debug -t -o ${LFTP_DEBUG}.${++lftpRuns} 9;`;
  const script = `${debug} set ftp:ssl-allow no; set net:max-retries 1; set net:timeout 30; set cmd:fail-exit yes; ${settings} mirror -P ${parallel} ${src} ${dest}; quit`;
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    execFile('lftp', ['-e', script, '-u', user, '-p', String(port), '127.0.0.1'], { timeout: RUN_TIMEOUT_MS, maxBuffer: 16 << 20 }, (e, _out, stderr) => {
      if (e !== null) reject(new Error(`lftp mirror failed: ${e.message}\n${stderr.slice(0, 2000)}`));
      else resolve((performance.now() - t0) / 1000);
    });
  });
}

/** Files and bytes under `dir` (every regular file). */
function tally(dir: string): { files: number; bytes: number } {
  let files = 0;
  let bytes = 0;
  for (const e of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!e.isFile()) continue;
    files++;
    bytes += fs.statSync(path.join(e.parentPath, e.name)).size;
  }
  return { files, bytes };
}

/** CPU seconds of this process's reaped children (lftp: each run's client, reaped by execFile). */
function childrenCpuSeconds(): number {
  const f = fs.readFileSync('/proc/self/stat', 'utf8');
  const x = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(x[13]) + Number(x[14])) / clockTicks(); // fields 16 and 17: cutime, cstime
}

interface Run {
  seconds: number;
  files: number;
  bytes: number;
  filesPerS: number;
  mbPerS: number;
  serverCpuS: number | null;
  /** lftp's CPU time in the run. */
  clientCpuS: number;
}

interface Cell {
  best: number;
  median: number;
  runs: Run[];
}

interface Row {
  mode: Mode;
  parallel: number;
  postern: Cell;
  vsftpd: Cell;
  /** Postern's median files/s ÷ vsftpd's. */
  ratio: number;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** vsftpd's version (`vsftpd -v` writes it on its fd 0), e.g. "3.0.3"; "?" when it cannot say. */
function vsftpdVersion(): string {
  try {
    const out = execFileSync('sh', ['-c', '/usr/sbin/vsftpd -v 0>&1'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return /version ([\d.]+)/.exec(out)?.[1] ?? '?';
  } catch {
    return '?';
  }
}

async function measure(work: string, name: string, fn: (dest: string) => Promise<number>, expect: { files: number; bytes: number }, cpu: () => number | null): Promise<Run> {
  const dest = path.join(work, name);
  const c0 = cpu();
  const l0 = childrenCpuSeconds();
  const seconds = await fn(dest);
  const l1 = childrenCpuSeconds();
  await new Promise((r) => setTimeout(r, 300)); // let the servers finish (and reap) the session
  const c1 = cpu();
  const t = tally(dest);
  if (t.files !== expect.files || t.bytes !== expect.bytes) throw new Error(`${name}: copied ${t.files} files, ${t.bytes} bytes; expected ${expect.files}, ${expect.bytes}`);
  fs.rmSync(dest, { recursive: true, force: true });
  return { seconds: round2(seconds), files: t.files, bytes: t.bytes, filesPerS: round1(t.files / seconds), mbPerS: round2(t.bytes / MB / seconds), serverCpuS: c0 === null || c1 === null ? null : round2(c1 - c0), clientCpuS: round2(l1 - l0) };
}

async function main(): Promise<void> {
  const unknown = RUN_MODES.filter((m) => !(m in MODES));
  if (unknown.length > 0) throw new Error(`BENCH_FTP_MODES: unknown ${unknown.join(', ')} (known: ${Object.keys(MODES).join(', ')})`);
  ensureTools(['lftp', 'vsftpd'], { what: 'bench:ftp' });
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'postern-bench-ftp-'));
  fs.chmodSync(work, 0o755); // vsftpd's unprivileged process reads the copy under it
  const dataDir = path.join(work, 'postern-data');
  const copies = fs.mkdtempSync(path.join(COPY_ROOT, 'postern-bench-ftp-copies-'));
  let postern: PosternProcess | null = null;
  let vsftpd: ChildProcess | null = null;
  try {
    const t0 = performance.now();
    const filled = await fillStore(dataDir);
    console.error(`store filled: ${filled.files} messages, ${round1(filled.bytes / MB)} MB in ${round1((performance.now() - t0) / 1000)} s`);
    postern = await startPosternProcess({
      dataDir,
      ...(SERVER_NODE_OPTIONS !== undefined ? { env: { NODE_OPTIONS: SERVER_NODE_OPTIONS } } : {}),
      ...(SERVER_OUTPUT !== undefined ? { onLine: (line: string) => fs.appendFileSync(SERVER_OUTPUT, `${line}\n`) } : {}),
      configText: `Server {
    services = (ftpBackup)
    statusListener = 127.0.0.1:0
    logLevel = warn
    ftpBackup = {
        listeners = ( { address = 127.0.0.1:0 peerMaxConnections = 0 peerMaxIntervalConnections = 0 maxIntervalConnections = 0 } )
        passivePortMin = 30000
        passivePortMax = 30999
        minConnThreads = 2      # the parallel runs use both CPUs from the start
        maxConnThreads = 2
    }
}`,
    });
    const pPort = postern.port('ftpBackup');
    const pCpu = (): number => procCpuSeconds(postern!.pid);
    const copy = path.join(work, 'copy');
    await lftp(pPort, `admin,${PASSWORD}`, `/domains/${DOMAIN}`, copy, '', 4);
    const expect = tally(copy);
    if (expect.files < filled.files) throw new Error(`the first mirror copied ${expect.files} files, fewer than the ${filled.files} messages`);
    execFileSync('chmod', ['-R', 'a+rX', copy]);
    const v = await startVsftpd(copy, work);
    vsftpd = v.proc;
    const peer = `vsftpd ${vsftpdVersion()}`;
    const rows: Row[] = [];
    for (const mode of RUN_MODES) {
      for (const parallel of PARALLEL) {
        const settings = MODES[mode];
        const p: Run[] = [];
        const s: Run[] = [];
        for (let i = 0; i < REPEAT; i++) {
          p.push(await measure(copies, 'p', (d) => lftp(pPort, `admin,${PASSWORD}`, `/domains/${DOMAIN}`, d, settings, parallel), expect, pCpu));
          s.push(await measure(copies, 'v', (d) => lftp(v.port, 'anonymous,', '/', d, settings, parallel), expect, () => treeCpuSeconds([v.proc.pid!])));
        }
        const row: Row = {
          mode, parallel,
          postern: { best: Math.max(...p.map((r) => r.filesPerS)), median: median(p.map((r) => r.filesPerS)), runs: p },
          vsftpd: { best: Math.max(...s.map((r) => r.filesPerS)), median: median(s.map((r) => r.filesPerS)), runs: s },
          ratio: 0,
        };
        row.ratio = round2(row.postern.median / row.vsftpd.median);
        rows.push(row);
        console.error(`${mode}, -P ${parallel}: postern ${p.map((r) => r.filesPerS).join(' ')} files/s, vsftpd ${s.map((r) => r.filesPerS).join(' ')} files/s`);
      }
    }
    const all = (side: 'postern' | 'vsftpd'): Run[] => rows.flatMap((r) => r[side].runs);
    const cpuMsPerFile = (runs: Run[]): number | null => {
      const xs = runs.filter((r) => r.serverCpuS !== null);
      const files = xs.reduce((a, r) => a + r.files, 0);
      return xs.length === 0 || files === 0 ? null : Math.round((xs.reduce((a, r) => a + r.serverCpuS!, 0) * 1000 / files) * 1000) / 1000;
    };
    const mb = (r: Run[]): number => median(r.map((x) => x.mbPerS));
    const lftpMs = (r: Run[]): number => Math.round((r.reduce((a, x) => a + x.clientCpuS, 0) * 1000 / r.reduce((a, x) => a + x.files, 0)) * 1000) / 1000;
    const secs = (r: Run[]): number => median(r.map((x) => x.seconds));
    printTable(`lftp mirror of ${DOMAIN}: ${ACCOUNTS} accounts × ${MESSAGES} messages (${expect.files} files, ${round1(expect.bytes / MB)} MB), loopback, ${os.cpus().length} CPUs, ${REPEAT} alternating runs per cell (ratio on the medians)`,
      ['commands', 'parallel', 'postern best', 'postern median', 'vsftpd best', 'vsftpd median', 'ratio', 'postern MB/s', 'vsftpd MB/s', 'postern s', 'vsftpd s', 'postern ms cpu/file', 'vsftpd ms cpu/file', 'lftp ms cpu/file (p)', 'lftp ms cpu/file (v)'],
      rows.map((r) => [r.mode, r.parallel, r.postern.best, r.postern.median, r.vsftpd.best, r.vsftpd.median, `${r.ratio.toFixed(2)}x`, mb(r.postern.runs), mb(r.vsftpd.runs), secs(r.postern.runs), secs(r.vsftpd.runs), cpuMsPerFile(r.postern.runs), cpuMsPerFile(r.vsftpd.runs), lftpMs(r.postern.runs), lftpMs(r.vsftpd.runs)]));
    const worst = Math.min(...rows.map((r) => r.ratio));
    console.log(`target: Postern ≥ ${TARGET} × vsftpd files/s (median) in every cell: ${worst >= TARGET ? 'met' : 'MISSED'} (lowest ratio ${worst.toFixed(2)}); files/s per cell in units of files/s`);
    const headline: Headline[] = [
      ...rows.map((r): Headline => ({
        workload: `FTP mirror, ${r.mode}, -P ${r.parallel}`, unit: 'files/s', better: 'higher',
        postern: r.postern.median, peer, peerValue: r.vsftpd.median,
        target: { text: `≥ ${TARGET} × vsftpd`, ratio: { op: '>=', value: TARGET } },
      })),
      { workload: 'FTP CPU per file', unit: 'ms CPU/file', better: 'lower', postern: cpuMsPerFile(all('postern')), peer, peerValue: cpuMsPerFile(all('vsftpd')) },
    ];
    printJsonLine({
      bench: 'ftp', node: process.version, accounts: ACCOUNTS, messages: MESSAGES, files: expect.files, bytes: expect.bytes, repeat: REPEAT, peer,
      results: rows, lowestRatio: worst, target: TARGET, targetMet: worst >= TARGET, headline,
    });
  } finally {
    vsftpd?.kill('SIGTERM');
    await postern?.stop().catch(() => {});
    fs.rmSync(work, { recursive: true, force: true });
    fs.rmSync(copies, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
