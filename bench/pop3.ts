/**
 * bench/pop3.ts: Postern's POP3 service against Dovecot's (Debian `dovecot-pop3d`), in the same
 * run, on loopback (`npm run bench:pop3`).
 *
 * Both serve the same users with the same 4 KiB messages (byte for byte): u001 … u100
 * @bench.example with 10 messages each (the 1,000 × 4 KiB messages of the session runs) and
 * b01 … b10 with 1,000 messages each (the retrieval runs); password "benchpw". Postern serves
 * them from its store (filled through the store API before the server starts), Dovecot from
 * maildirs (plain passwords, auth cache on, one pop3 process per session), from a config file of
 * the bench's own in a temp dir (`dovecot -c FILE`), running as the current user (`nobody`
 * under root, as test/imap/dovecot.ts does): no system user is made and nothing in /etc is
 * read or edited. Dovecot (and cc for the client) is installed with apt if missing (test/tools.ts).
 *
 * The load generator is bench/pop3-client.c (epoll, one thread, built by lib/pop3-client.ts); its
 * CPU time is printed beside the servers'. Commands are not pipelined. Measured, alternating
 * between the servers, each run RUN_S seconds, after warm-ups of WARM_S seconds at 10 clients
 * (which fill Postern's verified-login cache, one per connection thread, and Dovecot's auth
 * cache and index files):
 * (a) full sessions per second (connect, greeting, USER, PASS, STAT, LIST, RETR 1 … 10, QUIT)
 *     on the u-users, with 1, 10 and 100 concurrent clients (messages/s from the same runs);
 * (b) messages retrieved per second: the same full sessions on the b-users, whose RETR of all
 *     1,000 messages dominates, with 1, 10 and 100 clients;
 * (c) memory with IDLE_N idle authenticated sessions (u-users), each server restarted first:
 *     Postern's RSS (one process: all its threads) and Dovecot's PSS summed over all its
 *     processes (/proc/PID/smaps_rollup; PSS, since its processes share pages), both also as
 *     baseline.
 * Server CPU: Postern's utime+stime; Dovecot's master utime+stime+cutime+cstime plus its live
 * descendants' (pop3 processes end with their session and are reaped by the master).
 *
 * Prints the tables and ratios (Postern ÷ Dovecot), then exactly one line of JSON with every
 * figure printed. Exit 0 even when a target is missed (the table says so); 1 on a setup failure.
 * Targets (issue 6): sessions/s and retrieval ≥ Dovecot at 10 and 100 clients; idle memory
 * under half of Dovecot's.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Store } from '../src/store/store.ts';
import { benchConfig, ensureNofile, procCpuSeconds, startPosternProcess, type PosternProcess } from './lib/server.ts';
import { cleanupOnSignal } from './lib/child.ts';
import { printJsonLine, printTable, type Headline } from './lib/table.ts';
import { buildClient, openIdle, runSessions as run, type RunResult } from './lib/pop3-client.ts';
import { freePort } from './lib/net.ts';
import { ensureTools } from '../test/tools.ts';
import { runAs } from '../test/imap/dovecot.ts';
import { clockTicks, debVersion, descendants, machineJiffies, pssBytes, sh, treeCpuSeconds } from './lib/proc.ts';

const USERS = 100; // u001 … u100: the session runs
const PER_USER = 10;
const BIG_USERS = 10; // b01 … b10: the retrieval runs
const BIG_PER_USER = 1000;
const MSG_BYTES = 4096;
const PASSWORD = 'benchpw';
const DOMAIN = 'bench.example';
const LEVELS = [1, 10, 100];
const RUN_S = 5;
const WARM_S = 10;
const IDLE_N = 5000;
const NOFILE = 65_536;
const MB = 1_000_000;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const round1 = (x: number): number => Math.round(x * 10) / 10;
const round2 = (x: number): number => Math.round(x * 100) / 100;
const user = (i: number): string => `u${String(i).padStart(3, '0')}`;
const bigUser = (i: number): string => `b${String(i).padStart(2, '0')}`;
const SMALL_FMT = `u%03d@${DOMAIN}`;
const BIG_FMT = `b%02d@${DOMAIN}`;

/** One 4 KiB message, CRLF lines, the same bytes for both servers. */
function messageBytes(u: number, k: number): Buffer {
  const head = `From: sender@${DOMAIN}\r\nTo: ${user(u)}@${DOMAIN}\r\nSubject: bench ${u}.${k}\r\nMessage-ID: <${u}.${k}@${DOMAIN}>\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n\r\n`;
  const line = 'The quick brown fox jumps over the lazy dog; pack my box with five dozen jugs.\r\n';
  let body = '';
  while (head.length + body.length + line.length <= MSG_BYTES - 2) body += line;
  body += 'x'.repeat(MSG_BYTES - 2 - head.length - body.length) + '\r\n';
  const b = Buffer.from(head + body);
  if (b.length !== MSG_BYTES) throw new Error(`message is ${b.length} bytes`);
  return b;
}



async function waitPort(port: number, ms = 20_000): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('data', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`nothing answers on port ${port}`);
    await sleep(100);
  }
}

const runSessions = (bin: string, port: number, clients: number, seconds: number, big = false): Promise<RunResult> =>
  run(bin, port, clients, seconds, big ? BIG_FMT : SMALL_FMT, big ? BIG_USERS : USERS, PASSWORD);

// ---- Postern ---------------------------------------------------------------------------------

async function fillPosternStore(dataDir: string): Promise<void> {
  const store = await new Store({ dataDir, compactIntervalMs: 0 }).open();
  try {
    await store.directory.addDomain(DOMAIN, { primary: true });
    await Promise.all(Array.from({ length: USERS }, (_, i) => store.directory.addAccount(`${user(i + 1)}@${DOMAIN}`, { password: PASSWORD })));
    await Promise.all(Array.from({ length: BIG_USERS }, (_, i) => store.directory.addAccount(`${bigUser(i + 1)}@${DOMAIN}`, { password: PASSWORD })));
    // in UID order, so that message k is the same bytes on both servers
    await Promise.all(Array.from({ length: USERS }, async (_, i) => {
      const mb = store.mailbox(`${user(i + 1)}@${DOMAIN}`);
      for (let k = 1; k <= PER_USER; k++) await mb.append('INBOX', messageBytes(i + 1, k));
    }));
    await Promise.all(Array.from({ length: BIG_USERS }, async (_, i) => {
      const mb = store.mailbox(`${bigUser(i + 1)}@${DOMAIN}`);
      for (let k = 1; k <= BIG_PER_USER; k++) await mb.append('INBOX', messageBytes(i + 1, k));
    }));
  } finally {
    await store.close();
  }
}

const POSTERN_CONFIG = benchConfig('pop3', { domain: DOMAIN });

function startPostern(dataDir: string): Promise<PosternProcess> {
  return startPosternProcess({ configText: POSTERN_CONFIG, dataDir, nofile: NOFILE, startTimeoutMs: 60_000 });
}

// ---- Dovecot ---------------------------------------------------------------------------------

function ensureDovecot(): void {
  ensureTools(['dovecot', 'doveadm', 'dovecot-pop3', 'cc'], { what: 'bench:pop3' });
}

/** Who Dovecot runs as (test/imap/dovecot.ts: the current user, or `nobody` under root), and
 * the prefix that starts it as that user: no system user is made, nothing under /etc edited. */
const ME = runAs();
const DROP = process.getuid?.() === ME.uid ? '' : `setpriv --reuid=${ME.uid} --regid=${ME.gid} --clear-groups -- `;

function dovecotConfig(dir: string, port: number): string {
  return `base_dir = ${dir}/dovecot/run
state_dir = ${dir}/dovecot/state
instance_name = postern-pop3-bench-${port}
log_path = ${dir}/logs/dovecot.log
info_log_path = ${dir}/logs/dovecot-info.log
protocols = pop3
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
login_trusted_networks =
mail_max_userip_connections = 20000
auth_cache_size = 1M
default_internal_user = ${ME.name}
default_login_user = ${ME.name}
default_internal_group = ${ME.group}
first_valid_uid = ${Math.min(ME.uid, 100)}
mail_location = maildir:${dir}/mail/%n/Maildir
mail_fsync = optimized
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%n ${dir}/dovecot/users
}
userdb {
  driver = passwd-file
  args = username_format=%n ${dir}/dovecot/users
  default_fields = uid=${ME.name} gid=${ME.group} home=${dir}/mail/%n
}
default_process_limit = 10000
default_client_limit = 20000
default_vsz_limit = 256M
service pop3-login {
  chroot =
  inet_listener pop3 {
    address = 127.0.0.1
    port = ${port}
  }
  inet_listener pop3s {
    port = 0
  }
  service_count = 0
  process_min_avail = 2
  client_limit = 10000
}
service pop3 {
  process_limit = 10000
}
service anvil {
  chroot =
  client_limit = 40000
}
service auth {
  client_limit = 40000
}
`;
}

function fillDovecot(dir: string, port: number): string {
  for (const d of ['dovecot/run', 'dovecot/state', 'logs', 'mail']) fs.mkdirSync(path.join(dir, d), { recursive: true });
  fs.chmodSync(dir, 0o755);
  const users: string[] = [];
  const fill = (name: string, i: number, n: number): void => {
    users.push(`${name}:{PLAIN}${PASSWORD}::::::`);
    const md = path.join(dir, 'mail', name, 'Maildir');
    for (const s of ['cur', 'new', 'tmp']) fs.mkdirSync(path.join(md, s), { recursive: true });
    for (let k = 1; k <= n; k++) fs.writeFileSync(path.join(md, 'cur', `${1_700_000_000 + k}.M${k}P${i}.bench,S=${MSG_BYTES}:2,`), messageBytes(i, k));
  };
  for (let i = 1; i <= USERS; i++) fill(user(i), i, PER_USER);
  for (let i = 1; i <= BIG_USERS; i++) fill(bigUser(i), i, BIG_PER_USER);
  fs.writeFileSync(path.join(dir, 'dovecot', 'users'), `${users.join('\n')}\n`);
  if (process.getuid?.() !== ME.uid) for (const d of ['dovecot', 'logs', 'mail']) sh('chown', ['-R', `${ME.uid}:${ME.gid}`, path.join(dir, d)]);
  const conf = path.join(dir, 'dovecot.conf');
  fs.writeFileSync(conf, dovecotConfig(dir, port));
  return conf;
}

interface Dovecot { port: number; masterPid(): number; stop(): Promise<void> }

async function startDovecot(dir: string, conf: string, port: number): Promise<Dovecot> {
  // dovecot daemonizes; its output goes to its log files (a pipe would be held open)
  sh('bash', ['-c', `ulimit -n ${NOFILE} 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec ${DROP}dovecot -c "$0" </dev/null >/dev/null 2>&1`, conf]);
  await waitPort(port);
  const pidFile = path.join(dir, 'dovecot', 'run', 'master.pid');
  const masterPid = (): number => Number(fs.readFileSync(pidFile, 'utf8').trim());
  return {
    port,
    masterPid,
    async stop() {
      const pid = masterPid();
      const all = descendants(pid);
      try {
        sh('doveadm', ['-c', conf, 'stop']);
      } catch {
        process.kill(pid, 'SIGTERM');
      }
      for (let i = 0; i < 100; i++) {
        try {
          process.kill(pid, 0);
        } catch {
          break;
        }
        await sleep(100);
      }
      for (const p of all) {
        try {
          process.kill(p, 'SIGKILL'); // a process the master left behind
        } catch {
          /* gone */
        }
      }
    },
  };
}

function dovecotCpu(master: number): number {
  return treeCpuSeconds(descendants(master));
}

// ---- the run ---------------------------------------------------------------------------------

interface Level { clients: number; sessionsPerS: number; messagesPerS: number; errors: number; serverCpuS: number; clientCpuS: number; machineBusyCores: number }

async function measure(client: string, port: number, clients: number, cpu: () => number, big = false): Promise<Level> {
  const c0 = cpu();
  const m0 = machineJiffies();
  const t0 = Date.now();
  const r = await runSessions(client, port, clients, RUN_S, big);
  const serverCpuS = round2(cpu() - c0);
  const m1 = machineJiffies();
  const machineBusyCores = round2((m1.busy - m0.busy) / clockTicks() / ((Date.now() - t0) / 1000));
  return { clients, sessionsPerS: round1(r.sessions / r.elapsed_s), messagesPerS: round1(r.messages / r.elapsed_s), errors: r.errors, serverCpuS, clientCpuS: round2(r.cpu_s), machineBusyCores };
}

const ratio = (a: number, b: number): number => (b === 0 ? 0 : round2(a / b));

async function main(): Promise<void> {
  await ensureNofile(NOFILE);
  const loadStart = os.loadavg()[0]!;
  ensureDovecot();
  const client = buildClient();
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'postern-bench-pop3-'));
  fs.chmodSync(work, 0o755); // Dovecot (running as another user under root) must reach its files
  const pDir = path.join(work, 'postern');
  const dDir = path.join(work, 'dovecot');
  fs.mkdirSync(dDir);
  let postern: PosternProcess | null = null;
  let dovecot: Dovecot | null = null;
  const cleanup = async (): Promise<void> => {
    await postern?.stop().catch(() => {});
    await dovecot?.stop().catch(() => {});
    fs.rmSync(work, { recursive: true, force: true });
  };
  cleanupOnSignal(cleanup);
  try {
    console.log(`filling both: ${USERS} users × ${PER_USER} and ${BIG_USERS} users × ${BIG_PER_USER} messages of ${MSG_BYTES} bytes …`);
    await fillPosternStore(pDir);
    const dPort = await freePort();
    const conf = fillDovecot(dDir, dPort);
    postern = await startPostern(pDir);
    dovecot = await startDovecot(dDir, conf, dPort);
    const pPort = postern.port('pop3');
    const pCpu = (): number => procCpuSeconds(postern!.pid);
    const dCpu = (): number => dovecotCpu(dovecot!.masterPid());

    console.log(`warming up (${WARM_S} s each) …`);
    await runSessions(client, pPort, 10, WARM_S);
    await runSessions(client, dPort, 10, WARM_S);
    await runSessions(client, pPort, 10, WARM_S, true);
    await runSessions(client, dPort, 10, WARM_S, true);
    const rows: Array<{ p: Level; d: Level }> = [];
    const big: Array<{ p: Level; d: Level }> = [];
    for (const n of LEVELS) {
      const p = await measure(client, pPort, n, pCpu);
      const d = await measure(client, dPort, n, dCpu);
      rows.push({ p, d });
      console.log(`  sessions, ${n} clients: Postern ${p.sessionsPerS}/s, Dovecot ${d.sessionsPerS}/s`);
      const pb = await measure(client, pPort, n, pCpu, true);
      const db = await measure(client, dPort, n, dCpu, true);
      big.push({ p: pb, d: db });
      console.log(`  retrieval, ${n} clients: Postern ${pb.messagesPerS} msgs/s, Dovecot ${db.messagesPerS} msgs/s`);
    }

    console.log(`memory: restarting both, then ${IDLE_N} idle authenticated sessions each …`);
    await postern.stop();
    postern = null;
    postern = await startPostern(pDir);
    await dovecot.stop();
    dovecot = await startDovecot(dDir, conf, dPort);
    await sleep(1000);
    const pBase = postern.rssBytes();
    const dBase = pssBytes(descendants(dovecot.masterPid()));
    const pIdle = await openIdle(client, postern.port('pop3'), IDLE_N, SMALL_FMT, USERS, PASSWORD);
    await sleep(3000);
    const pRss = postern.rssBytes();
    await pIdle.close();
    const dIdle = await openIdle(client, dPort, IDLE_N, SMALL_FMT, USERS, PASSWORD);
    await sleep(3000);
    const dPids = descendants(dovecot.masterPid());
    const dPss = pssBytes(dPids);
    await dIdle.close();

    printTable('POP3 full sessions (login, STAT, LIST, RETR ×10, QUIT), 100 users × 10 × 4 KiB', [
      'clients', 'Postern sessions/s', 'Dovecot sessions/s', 'ratio', 'Postern msgs/s', 'Dovecot msgs/s', 'ratio ',
      'Postern CPU s', 'Dovecot CPU s', 'client CPU s (P/D)', 'machine busy cores (P/D)', 'errors (P/D)',
    ], rows.map(({ p, d }) => [
      p.clients, p.sessionsPerS, d.sessionsPerS, ratio(p.sessionsPerS, d.sessionsPerS), p.messagesPerS, d.messagesPerS,
      ratio(p.messagesPerS, d.messagesPerS), p.serverCpuS, d.serverCpuS, `${p.clientCpuS} / ${d.clientCpuS}`, `${p.machineBusyCores} / ${d.machineBusyCores}`, `${p.errors} / ${d.errors}`,
    ]));
    console.log(`(each run ${RUN_S} s; CPU seconds are over the run)`);
    console.log('');
    printTable(`POP3 retrieval: sessions RETR all ${BIG_PER_USER} × 4 KiB of ${BIG_USERS} users`, [
      'clients', 'Postern msgs/s', 'Dovecot msgs/s', 'ratio', 'Postern MB/s', 'Dovecot MB/s', 'Postern CPU s', 'Dovecot CPU s', 'client CPU s (P/D)', 'machine busy cores (P/D)', 'errors (P/D)',
    ], big.map(({ p, d }) => [
      p.clients, p.messagesPerS, d.messagesPerS, ratio(p.messagesPerS, d.messagesPerS), round1((p.messagesPerS * MSG_BYTES) / MB), round1((d.messagesPerS * MSG_BYTES) / MB),
      p.serverCpuS, d.serverCpuS, `${p.clientCpuS} / ${d.clientCpuS}`, `${p.machineBusyCores} / ${d.machineBusyCores}`, `${p.errors} / ${d.errors}`,
    ]));
    console.log('');
    const mem = {
      sessions: IDLE_N,
      posternReady: pIdle.ready,
      dovecotReady: dIdle.ready,
      posternIdleErrors: pIdle.errors,
      dovecotIdleErrors: dIdle.errors,
      posternBaselineMB: round1(pBase / MB),
      posternRssMB: round1(pRss / MB),
      dovecotBaselineMB: round1(dBase / MB),
      dovecotPssMB: round1(dPss / MB),
      dovecotProcesses: dPids.length,
      posternPerSessionKB: round1((pRss - pBase) / pIdle.ready / 1000),
      dovecotPerSessionKB: round1((dPss - dBase) / dIdle.ready / 1000),
    };
    printTable(`memory with ${IDLE_N} idle authenticated sessions`, ['', 'Postern (RSS)', 'Dovecot (PSS sum)', 'ratio'], [
      ['sessions open', pIdle.ready, dIdle.ready, null],
      ['sessions that failed to open', pIdle.errors, dIdle.errors, null],
      ['baseline, MB', mem.posternBaselineMB, mem.dovecotBaselineMB, ratio(pBase, dBase)],
      ['with the sessions, MB', mem.posternRssMB, mem.dovecotPssMB, ratio(pRss, dPss)],
      ['per session, KB', mem.posternPerSessionKB, mem.dovecotPerSessionKB, ratio(mem.posternPerSessionKB, mem.dovecotPerSessionKB)],
    ]);
    const at = (n: number): { p: Level; d: Level } => rows.find((r) => r.p.clients === n)!;
    const bigAt = (n: number): { p: Level; d: Level } => big.find((r) => r.p.clients === n)!;
    const targets = {
      sessionsAt10: at(10).p.sessionsPerS >= at(10).d.sessionsPerS,
      sessionsAt100: at(100).p.sessionsPerS >= at(100).d.sessionsPerS,
      retrievalAt10: bigAt(10).p.messagesPerS >= bigAt(10).d.messagesPerS,
      retrievalAt100: bigAt(100).p.messagesPerS >= bigAt(100).d.messagesPerS,
      memoryUnderHalf: pRss < dPss / 2,
    };
    console.log('');
    printTable('targets', ['target', 'met'], Object.entries(targets).map(([k, v]) => [k, v]));
    const loadEnd = os.loadavg()[0]!;
    console.log(`machine load average (1 min): ${round2(loadStart)} at the start, ${round2(loadEnd)} at the end (2 cores; other work on the machine shows here)`);
    const peer = `Dovecot ${debVersion('dovecot-core') ?? ''}`.trim();
    const headline: Headline[] = [
      ...rows.map(({ p, d }): Headline => ({ workload: `POP3 full sessions, ${p.clients} clients`, unit: 'sessions/s', better: 'higher', postern: p.sessionsPerS, peer, peerValue: d.sessionsPerS, ...(p.clients >= 10 ? { target: { text: '≥ 1 × Dovecot', ratio: { op: '>=', value: 1 } } } : {}) })),
      ...big.map(({ p, d }): Headline => ({ workload: `POP3 RETR of 1,000 × 4 KiB, ${p.clients} clients`, unit: 'msgs/s', better: 'higher', postern: p.messagesPerS, peer, peerValue: d.messagesPerS, ...(p.clients >= 10 ? { target: { text: '≥ 1 × Dovecot', ratio: { op: '>=', value: 1 } } } : {}) })),
      { workload: `POP3, ${IDLE_N} idle sessions, memory`, unit: 'MB', better: 'lower', postern: mem.posternRssMB, peer: `${peer} (PSS)`, peerValue: mem.dovecotPssMB, target: { text: '≤ 0.5 × Dovecot', ratio: { op: '<=', value: 0.5 } } },
    ];
    printJsonLine({ bench: 'pop3', headline, loadAverageStart: round2(loadStart), loadAverageEnd: round2(loadEnd), runSeconds: RUN_S, users: USERS, messagesPerUser: PER_USER, bigUsers: BIG_USERS, bigMessagesPerUser: BIG_PER_USER, messageBytes: MSG_BYTES, sessions: rows, retrieval: big, memory: mem, targets,
      ratios: {
        sessions: rows.map(({ p, d }) => ({ clients: p.clients, sessions: ratio(p.sessionsPerS, d.sessionsPerS), messages: ratio(p.messagesPerS, d.messagesPerS) })),
        retrieval: big.map(({ p, d }) => ({ clients: p.clients, messages: ratio(p.messagesPerS, d.messagesPerS), posternMBps: round1((p.messagesPerS * MSG_BYTES) / MB), dovecotMBps: round1((d.messagesPerS * MSG_BYTES) / MB) })),
        memory: { baseline: ratio(pBase, dBase), withSessions: ratio(pRss, dPss), perSession: ratio(mem.posternPerSessionKB, mem.dovecotPerSessionKB) },
      },
    });
  } finally {
    await cleanup();
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.stack : e);
  process.exit(1);
});
