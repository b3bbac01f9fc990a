/**
 * test/cluster/topology.ts: a real Postern cluster on this machine (issue 16 §5): slapd (the
 * fixture test/ldap-server.ts) holding the users, whose `mailHost` names their back end, and
 * three Postern PROCESSES, each `node bin/postern.js start --config FILE --data-dir DIR` with
 * the project's Node (process.execPath), each bound to its own loopback address:
 *
 *   front  127.0.0.2  smtpIncoming with SMTP routing (the user map), smtpOutgoing, processing,
 *                     and the proxies (pop3Proxy, imapProxy, webmailProxy) when they are built
 *   back1  127.0.0.3  smtpIncoming, processing, pop3, imap, webmail (the mailboxes of its users)
 *   back2  127.0.0.4  the same
 *
 * Ports: a protocol has the SAME port on both back ends (the user map names a host alone, and
 * the front end adds its `mappingPort`), and every node's status listener is on its own address.
 * They are picked at start as ports free on all three addresses; port 0 cannot be used: the
 * back ends would get different ports, the front end's config file must name the back ends'
 * ports before they start, and a node restarted after kill -9 must come back on the same ports
 * (the front end and the clients keep the addresses).
 *
 * Readiness: each node's `GET /status` (on its own address) shows every configured service
 * running and every listener listening; polled, bounded, never a sleep. Accounts are made with
 * `postern ctl --data-dir DIR` against the running back end.
 *
 * The user map: a file map written to the cluster's directory (`mapFile`), or the LDAP map over
 * slapd once the userdb layer is built (`mapType`).
 *
 * Exports: `startCluster(o?)` → `Cluster`, `ClusterNode`, `ClusterUser`, `CLUSTER_USERS`,
 * `pickPorts(hosts, n)`, `ctlRun`. Throws (rejects): a node that exits or is not ready in time
 * (its log's tail in the message); slapd missing.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startLdapServer, type LdapServer, type LdapUser } from '../ldap-server.ts';
import { SERVICE_DEFS } from '../../src/config/schema.ts';

/** The proxies the front end runs: those built on this tree (their row names a module). */
export const PROXIES = (['pop3Proxy', 'imapProxy', 'webmailProxy'] as const).filter((n) => SERVICE_DEFS[n].row.module !== null);

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = path.join(ROOT, 'bin', 'postern.js');

export const FRONT_IP = '127.0.0.2';
export const BACK_IPS = ['127.0.0.3', '127.0.0.4'] as const;

export interface ClusterUser {
  mail: string;
  password: string;
  /** Its back end's address (the LDAP `mailHost`, the file map's host). */
  backend: string;
}

/** Two users per back end. */
export const CLUSTER_USERS: readonly ClusterUser[] = [
  { mail: 'alice@example.test', password: 'alice-secret', backend: '127.0.0.3' },
  { mail: 'carol@example.test', password: 'carol-secret', backend: '127.0.0.3' },
  { mail: 'bob@example.test', password: 'bob-secret', backend: '127.0.0.4' },
  { mail: 'dave@example.test', password: 'dave-secret', backend: '127.0.0.4' },
];

export interface ClusterPorts {
  smtp: number;
  pop3: number;
  imap: number;
  http: number;
  status: number;
}

export interface ClusterNode {
  readonly name: 'front' | 'back1' | 'back2';
  readonly ip: string;
  readonly dataDir: string;
  readonly configFile: string;
  /** The services the node runs (readiness waits for each). */
  readonly services: readonly string[];
  readonly pid: number | null;
  readonly running: boolean;
  /** Start (or start again) and wait until ready. */
  start(): Promise<void>;
  /** SIGTERM, then SIGKILL after 10 s. Idempotent. */
  stop(): Promise<void>;
  /** SIGKILL now (a node that dies). */
  kill(): Promise<void>;
  restart(): Promise<void>;
  /** SIGSTOP / SIGCONT: a node that accepts connections (the kernel does) and never answers. */
  pause(): void;
  resume(): void;
  /** `postern ctl --data-dir DIR ARGS…` (rejects on a non-zero exit). */
  ctl(...args: string[]): Promise<string>;
  /** Its stdout and stderr so far (the tail of the current file). */
  log(): string;
  status(): Promise<any>;
}

export interface Cluster {
  readonly dir: string;
  readonly ldap: LdapServer | null;
  readonly front: ClusterNode;
  readonly back: readonly [ClusterNode, ClusterNode];
  readonly nodes: readonly ClusterNode[];
  /** Front-end ports (smtp: routing smtpIncoming; pop3/imap/http: the proxies) and back-end
   * ports (the same on both). */
  readonly frontPorts: ClusterPorts;
  readonly backPorts: ClusterPorts;
  readonly users: readonly ClusterUser[];
  readonly mapFile: string;
  /** The back end node of a user. */
  backOf(mail: string): ClusterNode;
  stop(): Promise<void>;
}

export interface ClusterOptions {
  users?: readonly ClusterUser[];
  /** Start slapd with the users (default true); the back ends then check passwords against it. */
  ldap?: boolean;
  /** The front end's user map: 'file' (default), 'ldap' (LDAP Password over slapd), or 'none'
   * (SMTP routes every recipient to back1: mappingHost). */
  mapType?: 'file' | 'ldap' | 'none';
  /** (internal) slapd's URL and service password (set by startCluster when slapd runs). */
  ldapUrl?: string;
  ldapBindPassword?: string;
  /** The LDAP connector's timeout, seconds (default 2). */
  ldapTimeout?: number;
  /** Extra Server-level attributes (each node). */
  server?: string;
  /** The proxies check passwords themselves (default: yes with the LDAP map, no with a file). */
  authenticateOnProxy?: boolean;
  /** Extra attributes of every POP3, IMAP and HTTP listener (both tiers), e.g. flow limits. */
  listener?: string;
  /** Extra attributes of the front end's smtpIncoming. */
  frontSmtp?: string;
  /** The proxies' connectionData rwTimeout, seconds (default 3). */
  rwTimeout?: number;
  /** Retry interval of the front end's queue, seconds (default 1). */
  schedInterval?: number;
  /** Where to make the cluster (kept after stop); default a new temp dir, removed by stop. */
  dir?: string;
  /** Log level of the nodes (default warn). */
  logLevel?: string;
  /** Also log each node to the console (the demo). */
  echo?: boolean;
}

function canBind(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, host, () => s.close(() => resolve(true)));
  });
}

/** `n` distinct ports free on every one of `hosts` right now (bounded: 200 tries). */
export async function pickPorts(hosts: readonly string[], n: number): Promise<number[]> {
  const out: number[] = [];
  for (let tries = 0; out.length < n && tries < 200; tries++) {
    const port = await new Promise<number>((resolve, reject) => {
      const s = net.createServer();
      s.once('error', reject);
      s.listen(0, hosts[0], () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    if (out.includes(port)) continue;
    let ok = true;
    for (const h of hosts) if (!(await canBind(h, port))) ok = false;
    if (ok) out.push(port);
  }
  if (out.length < n) throw new Error(`could not find ${n} ports free on ${hosts.join(', ')}`);
  return out;
}

/** `postern ctl --data-dir DIR ARGS…`: its stdout; rejects with its stderr. */
export function ctlRun(dataDir: string, args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [BIN, 'ctl', '--data-dir', dataDir, ...args], { cwd: ROOT, timeout: 30_000 }, (err, stdout, stderr) => {
      if (err !== null) reject(new Error(`postern ctl ${args.join(' ')}: ${stderr.trim() || err.message}`));
      else resolve(stdout);
    });
  });
}

async function getJson(url: string): Promise<any> {
  const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
  if (!res.ok) throw new Error(`${url}: ${res.status}`);
  return res.json();
}

function makeNode(name: ClusterNode['name'], ip: string, dir: string, configText: string, services: readonly string[], statusPort: number, o: { echo: boolean }): ClusterNode {
  const dataDir = path.join(dir, name);
  fs.mkdirSync(dataDir, { recursive: true });
  const configFile = path.join(dir, `${name}.conf`);
  fs.writeFileSync(configFile, configText);
  const logFile = path.join(dir, `${name}.log`);
  let child: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();
  let out = '';
  const statusUrl = `http://${ip}:${statusPort}/status`;

  /** Extra Node options for every node, from POSTERN_BENCH_NODE_ARGS (space-separated; e.g.
   * `--cpu-prof --cpu-prof-dir=DIR` to profile a bench run). */
  const nodeArgs = (): string[] => (process.env['POSTERN_BENCH_NODE_ARGS'] ?? '').split(/\s+/).filter((a) => a !== '');
  const ready = (doc: any): boolean => {
    for (const s of services) {
      const st = (doc.services as any[]).find((x) => x.name === s);
      if (st === undefined || st.state !== 'running') return false;
      if ((st.listeners as any[]).some((l) => l.enable && !l.listening)) return false;
    }
    return true;
  };

  const node: ClusterNode = {
    name, ip, dataDir, configFile, services,
    get pid() { return child?.pid ?? null; },
    get running() { return child !== null && child.exitCode === null && child.signalCode === null; },
    async start() {
      if (node.running) return;
      out = '';
      const c = spawn(process.execPath, [...nodeArgs(), BIN, 'start', '--config', configFile, '--data-dir', dataDir], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
      child = c;
      const fd = fs.openSync(logFile, 'a');
      const onData = (d: Buffer): void => {
        out += d.toString();
        if (out.length > 200_000) out = out.slice(-100_000);
        fs.writeSync(fd, d);
        if (o.echo) process.stderr.write(d.toString().split('\n').filter((l) => l !== '').map((l) => `[${name}] ${l}\n`).join(''));
      };
      c.stdout!.on('data', onData);
      c.stderr!.on('data', onData);
      exited = new Promise<void>((r) => c.once('exit', () => { fs.closeSync(fd); r(); }));
      const until = Date.now() + 30_000;
      for (;;) {
        if (c.exitCode !== null || c.signalCode !== null) throw new Error(`${name} exited (${c.exitCode ?? c.signalCode}) before it was ready: ${out.slice(-2000)}`);
        try {
          const doc = await getJson(statusUrl);
          if (doc.server?.pid === c.pid && ready(doc)) return;
        } catch { /* not up yet */ }
        if (Date.now() > until) throw new Error(`${name} not ready within 30 s: ${out.slice(-2000)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async stop() {
      const c = child;
      if (c === null || !node.running) return;
      c.kill('SIGCONT'); // a paused node must be able to hear the SIGTERM
      c.kill('SIGTERM');
      const t = setTimeout(() => c.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
    },
    async kill() {
      const c = child;
      if (c === null || !node.running) return;
      c.kill('SIGKILL');
      await exited;
    },
    async restart() {
      await node.stop();
      await node.start();
    },
    pause() {
      if (node.running) child!.kill('SIGSTOP');
    },
    resume() {
      if (node.running) child!.kill('SIGCONT');
    },
    ctl: (...args) => ctlRun(dataDir, args),
    log: () => out,
    status: () => getJson(statusUrl),
  };
  return node;
}

/** The file map: one line per user, `address host` (the back ends' ports are the front end's
 * `mappingPort`s). */
function fileMapText(users: readonly ClusterUser[]): string {
  return `# cluster test map: address  back end\n${users.map((u) => `${u.mail} ${u.backend}`).join('\n')}\n`;
}

/** The LDAP connector every node shares (slapd's service account; a short timeout, a warm cache). */
function connectorText(o: ClusterOptions): string {
  return `userdb = { ldapConnectors = ( { name = dir urls = ( "${o.ldapUrl}" ) bindDn = "cn=postern,dc=example,dc=test" bindPassword = "${o.ldapBindPassword ?? ''}" baseDn = "ou=people,dc=example,dc=test" timeout = ${o.ldapTimeout ?? 2} cacheTtl = 60 } ) }`;
}

function backConfig(ip: string, name: string, p: ClusterPorts, o: ClusterOptions): string {
  // with slapd, the back ends check passwords against the same directory (the mailbox is the store's)
  const viaLdap = o.ldapUrl !== undefined ? 'userdbConnectorType = ldap userdbConnectorName = dir' : '';
  return `Server {
  hostname = "${name}.cluster.test"
  services = (smtpIncoming processing pop3 imap webmail)
  statusListener = ${ip}:${p.status}
  logLevel = ${o.logLevel ?? 'warn'}
  ${o.ldapUrl !== undefined ? connectorText(o) : ''}
  ${o.server ?? ''}
  smtpIncoming = { listeners = ( { address = ${ip}:${p.smtp} } ) mailAuth = no ${viaLdap} }
  processing = { schedInterval = 1 maxSchedInterval = 2 }
  pop3 = { listeners = ( { address = ${ip}:${p.pop3} ${o.listener ?? ''} } ) ${viaLdap} }
  imap = { listeners = ( { address = ${ip}:${p.imap} ${o.listener ?? ''} } ) ${viaLdap} }
  webmail = { listeners = ( { address = ${ip}:${p.http} ${o.listener ?? ''} } ) ${viaLdap} }
}
`;
}

function frontConfig(fp: ClusterPorts, bp: ClusterPorts, mapFile: string, o: ClusterOptions): { text: string; services: string[] } {
  const sched = o.schedInterval ?? 1;
  const mapType = o.mapType ?? 'file';
  const services = ['smtpIncoming', 'smtpOutgoing', 'processing', ...(mapType === 'none' ? [] : PROXIES)];
  const userMaps = mapType === 'none' ? '' : mapType === 'file'
    ? `userMaps = ( { name = users type = file path = "${mapFile}" } )`
    : `${connectorText(o)}
  userMaps = ( { name = users type = ldapPassword ldapConnector = dir } )`;
  const mapping = mapType === 'none' ? `mappingHost = "${BACK_IPS[0]}" mappingPort = ${bp.smtp}` : `userMap = users mappingPort = ${bp.smtp}`;
  // the proxies: the map routes, no default back end; with LDAP the proxy checks the password
  const onProxy = mapType === 'ldap' && o.authenticateOnProxy !== false ? 'yes' : 'no';
  const rw = o.rwTimeout ?? 3;
  const proxies: Record<string, string> = {
    pop3Proxy: `pop3Proxy = { listeners = ( { address = ${FRONT_IP}:${fp.pop3} ${o.listener ?? ''} } ) userMap = users authenticateOnProxy = ${onProxy} mappingData = { mappingHost = "" mappingPort = ${bp.pop3} } connectionData = { rwTimeout = ${rw} } }`,
    imapProxy: `imapProxy = { listeners = ( { address = ${FRONT_IP}:${fp.imap} ${o.listener ?? ''} } ) userMap = users authenticateOnProxy = ${onProxy} mappingData = { mappingHost = "" mappingPort = ${bp.imap} } connectionData = { rwTimeout = ${rw} } }`,
    webmailProxy: `webmailProxy = { listeners = ( { address = ${FRONT_IP}:${fp.http} ${o.listener ?? ''} } ) userMap = users authenticateOnProxy = ${onProxy} mappingData = { mappingHost = "${BACK_IPS[0]}" mappingPort = ${bp.http} } connectionData = { connectTimeout = ${rw} rwTimeout = ${Math.max(rw, 10)} } }`,
  };
  const proxyText = services.filter((x) => x in proxies).map((x) => proxies[x]).join('\n  ');
  const text = `Server {
  hostname = "front.cluster.test"
  services = (${services.join(' ')})
  statusListener = ${FRONT_IP}:${fp.status}
  logLevel = ${o.logLevel ?? 'warn'}
  ${o.server ?? ''}
  ${userMaps}
  smtpIncoming = {
    listeners = ( { address = ${FRONT_IP}:${fp.smtp} } )
    mailAuth = no
    enableSmtpRouting = yes
    mappingData = { ${mapping} }
    ${o.frontSmtp ?? ''}
  }
  processing = { schedInterval = ${sched} maxSchedInterval = ${sched} }
  smtpOutgoing = { mtaSts = no connectTimeout = 3 rwTimeout = 10 }
  ${proxyText}
}
`;
  return { text, services };
}

export async function startCluster(o: ClusterOptions = {}): Promise<Cluster> {
  const users = o.users ?? CLUSTER_USERS;
  const dir = o.dir ?? fs.mkdtempSync(path.join((await import('node:os')).tmpdir(), 'postern-cluster-'));
  fs.mkdirSync(dir, { recursive: true });
  const all = [FRONT_IP, ...BACK_IPS];
  const [fs1, fs2, fs3, fs4, fs5, b1, b2, b3, b4, b5] = await pickPorts(all, 10) as [number, number, number, number, number, number, number, number, number, number];
  const frontPorts: ClusterPorts = { smtp: fs1, pop3: fs2, imap: fs3, http: fs4, status: fs5 };
  const backPorts: ClusterPorts = { smtp: b1, pop3: b2, imap: b3, http: b4, status: b5 };
  const mapFile = path.join(dir, 'users.map');
  fs.writeFileSync(mapFile, fileMapText(users));
  let ldap: LdapServer | null = null;
  const nodes: ClusterNode[] = [];
  const stopAll = async (): Promise<void> => {
    await Promise.all(nodes.map((n) => n.stop()));
    await ldap?.stop();
    // a directory the helper made is removed (a given one is the caller's: kept)
    if (o.dir === undefined) fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    if (o.ldap ?? true) {
      const ldapUsers: LdapUser[] = users.map((u) => ({ mail: u.mail, password: u.password, scheme: 'clear', mailHost: u.backend }));
      ldap = await startLdapServer({ users: ldapUsers });
    }
    const echo = { echo: o.echo ?? false };
    const backSvc = ['smtpIncoming', 'processing', 'pop3', 'imap', 'webmail'];
    const oo: ClusterOptions = { ...o, ...(ldap !== null ? { ldapUrl: ldap.url, ldapBindPassword: ldap.bindPassword } : {}) };
    const back1 = makeNode('back1', BACK_IPS[0], dir, backConfig(BACK_IPS[0], 'back1', backPorts, oo), backSvc, backPorts.status, echo);
    const back2 = makeNode('back2', BACK_IPS[1], dir, backConfig(BACK_IPS[1], 'back2', backPorts, oo), backSvc, backPorts.status, echo);
    const f = frontConfig(frontPorts, backPorts, mapFile, oo);
    const front = makeNode('front', FRONT_IP, dir, f.text, f.services, frontPorts.status, echo);
    nodes.push(back1, back2, front);
    await Promise.all(nodes.map((n) => n.start()));
    await Promise.all(([[back1, BACK_IPS[0]], [back2, BACK_IPS[1]]] as const).map(async ([n, ip]) => {
      const mine = users.filter((u) => u.backend === ip);
      const domains = [...new Set(mine.map((u) => u.mail.slice(u.mail.indexOf('@') + 1)))];
      for (const d of domains) await n.ctl('domain', 'add', d);
      await Promise.all(mine.map((u) => n.ctl('account', 'add', u.mail, '--password', u.password)));
    }));
    const byIp = new Map<string, ClusterNode>([[BACK_IPS[0], back1], [BACK_IPS[1], back2]]);
    return {
      dir, ldap, front, back: [back1, back2], nodes, frontPorts, backPorts, users, mapFile,
      backOf(mail: string): ClusterNode {
        const u = users.find((x) => x.mail === mail);
        if (u === undefined) throw new Error(`no cluster user ${mail}`);
        return byIp.get(u.backend)!;
      },
      stop: stopAll,
    };
  } catch (e) {
    await stopAll();
    throw e;
  }
}
