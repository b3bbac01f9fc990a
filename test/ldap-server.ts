/**
 * test/ldap-server.ts: a real LDAP directory on loopback for the tests: Debian's OpenLDAP `slapd`,
 * run in the foreground (`-d stats`, so its access log is ours to read) from a throwaway
 * slapd.conf in a temp dir (`-f`, never /etc/ldap), schemas core, cosine, inetorgperson and misc
 * (misc holds `inetLocalMailRecipient` / `mailHost`), one mdb database for `dc=example,dc=test`.
 *
 * Access rules (the directory a cluster expects):
 *   - the service account `cn=postern,dc=example,dc=test` (password `bindPassword`) reads and
 *     searches every entry and may COMPARE `userPassword` (never read it);
 *   - anonymous users may only bind (`auth` on userPassword): they read nothing;
 *   - a bound user reads nothing either (LDAP Bind only binds).
 *   The root DN (`adminDn`/`adminPassword`) is the fixture's own, for `addUser`.
 *
 * Exports:
 * - `startLdapServer(o?)` → `LdapServer` {
 *     url ('ldap://HOST:PORT'), ldapsUrl and caFile (with `tls`, else null), host, port, baseDn, bindDn, bindPassword, adminDn, adminPassword,
 *     users (the LDIF's users, as given), dir (the temp dir),
 *     addUser(user)  adds an entry live (as the root DN),
 *     searches()     how many SRCH operations slapd logged so far (to prove a cache hit),
 *     binds()        how many BIND operations slapd logged so far,
 *     connections()  how many connections slapd accepted so far,
 *     log()          slapd's access log lines so far (`-d stats`; the last 20000),
 *     stop()         SIGTERM, bounded wait (5 s) then SIGKILL; idempotent,
 *     kill()         SIGKILL now (a directory that dies),
 *     pause()/resume() SIGSTOP (resolves once the kernel shows it stopped) / SIGCONT (a
 *                    directory that accepts connections and never answers),
 *     restart()      stop (if running) and start again on the same port with the same data }.
 *   Options: `users` (default DEFAULT_LDAP_USERS), `host` (default 127.0.0.1), `port` (default a
 *   free one below the ephemeral range), `startTimeoutMs` (default 10 s), `tls` (default off: a
 *   throwaway certificate for 127.0.0.1/localhost, ldaps:// on a second port, StartTLS on the first).
 * - `LdapUser` { mail, password, scheme ('clear' | 'ssha'), mailHost?, uid?, cn? }:
 *   'clear' stores userPassword as given (LDAP Password maps compare it), 'ssha' stores
 *   `{SSHA}` (LDAP Bind maps bind with it; a compare of the clear text fails).
 * - `DEFAULT_LDAP_USERS`: alice (clear, mailHost 127.0.0.3), bob (ssha, mailHost 127.0.0.4:1110),
 *   carol (ssha, no mailHost), dave@other.test (clear, mailHost 127.0.0.3).
 * - `sshaHash(password)`: `{SSHA}` as slappasswd makes it.
 * - `userDn(user)`: the entry's DN (`uid=…,ou=people,dc=example,dc=test`).
 *
 * Ready means the service account bound and searched (polled, bounded by startTimeoutMs), never a
 * fixed sleep. Throws: startLdapServer / restart reject when slapd is missing, exits, or is not
 * ready in time (slapd's stderr tail in the message).
 */
import { spawn, execFile } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Client } from 'ldapts';
import net from 'node:net';
import { tmpDir } from './helpers.ts';

export interface LdapUser {
  mail: string;
  password: string;
  /** How userPassword is stored: 'clear' (compare-able) or 'ssha' (hashed: bind only). */
  scheme: 'clear' | 'ssha';
  /** The routing attribute; omitted: the entry has none (USERDB_BAD_ENTRY for a lookup). */
  mailHost?: string;
  /** RDN value (default: the mail's local part, plus `.domain` when not example.test). */
  uid?: string;
  cn?: string;
}

export const DEFAULT_LDAP_USERS: readonly LdapUser[] = [
  { mail: 'alice@example.test', password: 'alice-secret', scheme: 'clear', mailHost: '127.0.0.3' },
  { mail: 'bob@example.test', password: 'bob-secret', scheme: 'ssha', mailHost: '127.0.0.4:1110' },
  { mail: 'carol@example.test', password: 'carol-secret', scheme: 'ssha' },
  { mail: 'dave@other.test', password: 'dave-secret', scheme: 'clear', mailHost: '127.0.0.3' },
];

export interface LdapServerOptions {
  users?: readonly LdapUser[];
  host?: string;
  port?: number;
  startTimeoutMs?: number;
  /** Also serve TLS: a throwaway certificate for 127.0.0.1 / localhost (its own CA: `caFile`),
   * `ldaps://` on a second port (`ldapsUrl`) and StartTLS on the plain one. */
  tls?: boolean;
}

export interface LdapServer {
  url: string;
  /** With `tls`: `ldaps://HOST:TLSPORT`, and the PEM certificate to trust for it; else null. */
  ldapsUrl: string | null;
  caFile: string | null;
  host: string;
  port: number;
  baseDn: string;
  bindDn: string;
  bindPassword: string;
  adminDn: string;
  adminPassword: string;
  users: readonly LdapUser[];
  dir: string;
  addUser(user: LdapUser): Promise<void>;
  searches(): number;
  binds(): number;
  connections(): number;
  /** slapd's access log lines so far (the last 20000). */
  log(): readonly string[];
  stop(): Promise<void>;
  kill(): Promise<void>;
  pause(): Promise<void>;
  resume(): void;
  restart(): Promise<void>;
}

const BASE_DN = 'dc=example,dc=test';
const BIND_DN = `cn=postern,${BASE_DN}`;
const BIND_PASSWORD = 'postern-service-pw';
const ADMIN_DN = `cn=admin,${BASE_DN}`;
const ADMIN_PASSWORD = 'admin-root-pw';
const SLAPD = fs.existsSync('/usr/sbin/slapd') ? '/usr/sbin/slapd' : 'slapd';
const SLAPADD = fs.existsSync('/usr/sbin/slapadd') ? '/usr/sbin/slapadd' : 'slapadd';
const SCHEMA_DIR = '/etc/ldap/schema';
const MODULE_DIR = '/usr/lib/ldap';

export function sshaHash(password: string): string {
  const salt = crypto.randomBytes(8);
  const digest = crypto.createHash('sha1').update(password).update(salt).digest();
  return `{SSHA}${Buffer.concat([digest, salt]).toString('base64')}`;
}

function uidOf(u: LdapUser): string {
  if (u.uid !== undefined) return u.uid;
  const [local, domain] = u.mail.split('@');
  return domain === 'example.test' ? local! : `${local}.${domain}`;
}

export function userDn(u: LdapUser): string {
  return `uid=${uidOf(u)},ou=people,${BASE_DN}`;
}

function userAttrs(u: LdapUser): Record<string, string[]> {
  const a: Record<string, string[]> = {
    objectClass: ['inetOrgPerson', 'inetLocalMailRecipient'],
    uid: [uidOf(u)],
    cn: [u.cn ?? uidOf(u)],
    sn: [uidOf(u)],
    mail: [u.mail],
    userPassword: [u.scheme === 'clear' ? u.password : sshaHash(u.password)],
  };
  if (u.mailHost !== undefined) a.mailHost = [u.mailHost];
  return a;
}

function ldifOf(users: readonly LdapUser[]): string {
  const blocks: string[] = [
    `dn: ${BASE_DN}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n`,
    `dn: ${BIND_DN}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\ncn: postern\nuserPassword: ${sshaHash(BIND_PASSWORD)}\n`,
    `dn: ou=people,${BASE_DN}\nobjectClass: organizationalUnit\nou: people\n`,
  ];
  for (const u of users) {
    const lines = [`dn: ${userDn(u)}`];
    for (const [k, vs] of Object.entries(userAttrs(u))) for (const v of vs) lines.push(`${k}: ${v}`);
    blocks.push(lines.join('\n') + '\n');
  }
  return blocks.join('\n');
}

function slapdConf(dir: string, tls: boolean): string {
  return [
    ...(tls ? [`TLSCertificateFile ${path.join(dir, 'cert.pem')}`, `TLSCertificateKeyFile ${path.join(dir, 'key.pem')}`] : []),
    ...['core', 'cosine', 'inetorgperson', 'misc'].map((s) => `include ${SCHEMA_DIR}/${s}.schema`),
    `pidfile ${path.join(dir, 'slapd.pid')}`,
    `argsfile ${path.join(dir, 'slapd.args')}`,
    `modulepath ${MODULE_DIR}`,
    'moduleload back_mdb',
    'loglevel stats',
    // No anonymous reads anywhere (the rootDSE and the schema included).
    'access to dn.exact="" by * none',
    'access to dn.base="cn=Subschema" by * none',
    'database mdb',
    `suffix "${BASE_DN}"`,
    `rootdn "${ADMIN_DN}"`,
    `rootpw ${ADMIN_PASSWORD}`,
    `directory ${path.join(dir, 'db')}`,
    'maxsize 16777216',
    'index objectClass eq',
    'index mail eq',
    'access to attrs=userPassword',
    `  by dn.exact="${BIND_DN}" compare`,
    '  by anonymous auth',
    '  by * none',
    'access to *',
    `  by dn.exact="${BIND_DN}" read`,
    '  by * none',
    '',
  ].join('\n');
}

/** A free port BELOW the kernel's ephemeral range (32768-60999 by default): after a kill, a
 * client's outgoing connection could otherwise take the directory's port as its own local port
 * (and even connect to itself), and the restarted slapd could not listen on it. */
async function listenPort(host: string): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const port = 20000 + Math.floor(Math.random() * 12000);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.createServer();
      s.once('error', () => resolve(false));
      s.listen(port, host, () => s.close(() => resolve(true)));
    });
    if (ok) return port;
  }
  throw new Error('no free port below 32000 for slapd');
}

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: 15_000 }, (err, _out, stderr) => {
      if (err) reject(new Error(`${path.basename(cmd)} failed: ${err.message}\n${stderr.slice(-2000)}`));
      else resolve();
    });
  });
}

export async function startLdapServer(o: LdapServerOptions = {}): Promise<LdapServer> {
  const users = o.users ?? DEFAULT_LDAP_USERS;
  const host = o.host ?? '127.0.0.1';
  const port = o.port ?? (await listenPort(host));
  const startTimeoutMs = o.startTimeoutMs ?? 10_000;
  const dir = tmpDir('postern-slapd-');
  const conf = path.join(dir, 'slapd.conf');
  fs.mkdirSync(path.join(dir, 'db'));
  const tls = o.tls === true;
  if (tls) {
    await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'),
      '-days', '2', '-subj', '/CN=localhost', '-addext', `subjectAltName=IP:${host},DNS:localhost`]);
  }
  const tlsPort = tls ? await listenPort(host) : null;
  fs.writeFileSync(conf, slapdConf(dir, tls));
  fs.writeFileSync(path.join(dir, 'users.ldif'), ldifOf(users));
  await run(SLAPADD, ['-q', '-f', conf, '-l', path.join(dir, 'users.ldif')]);

  const url = `ldap://${host}:${port}`;
  const ldapsUrl = tlsPort === null ? null : `ldaps://${host}:${tlsPort}`;
  let child: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();
  let stderrTail = '';
  const counts = { SRCH: 0, BIND: 0, ACCEPT: 0 };
  const logLines: string[] = [];

  const spawnSlapd = async (): Promise<void> => {
    stderrTail = '';
    const c = spawn(SLAPD, ['-d', 'stats', '-f', conf, '-h', ldapsUrl === null ? `${url}/` : `${url}/ ${ldapsUrl}/`], { stdio: ['ignore', 'ignore', 'pipe'] });
    child = c;
    let buf = '';
    c.stderr!.setEncoding('utf8');
    c.stderr!.on('data', (d: string) => {
      stderrTail = (stderrTail + d).slice(-4000);
      buf += d;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        logLines.push(line);
        if (logLines.length > 20000) logLines.splice(0, 1000);
        if (/ SRCH base=/.test(line)) counts.SRCH++;
        else if (/ BIND dn=/.test(line)) counts.BIND++;
        else if (/ ACCEPT from /.test(line)) counts.ACCEPT++;
      }
    });
    let gone = false;
    exited = new Promise<void>((resolve) => {
      c.once('exit', () => { gone = true; if (child === c) child = null; resolve(); });
      c.once('error', (e) => { stderrTail += `\n${e.message}`; gone = true; if (child === c) child = null; resolve(); });
    });
    // Ready: the service account binds and reads its own entry.
    const until = Date.now() + startTimeoutMs;
    for (;;) {
      if (gone) throw new Error(`slapd exited at start:\n${stderrTail}`);
      const client = new Client({ url, timeout: 1000, connectTimeout: 1000 });
      try {
        await client.bind(BIND_DN, BIND_PASSWORD);
        await client.search(BASE_DN, { scope: 'base' });
        return;
      } catch {
        // not yet
      } finally {
        await client.unbind().catch(() => undefined);
      }
      if (Date.now() > until) {
        c.kill('SIGKILL');
        await exited;
        throw new Error(`slapd not ready on ${url} within ${startTimeoutMs} ms:\n${stderrTail}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  const stop = async (): Promise<void> => {
    const c = child;
    if (c === null) return;
    c.kill('SIGCONT');
    c.kill('SIGTERM');
    const t = setTimeout(() => c.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(t);
  };

  await spawnSlapd();

  return {
    url, ldapsUrl, caFile: tls ? path.join(dir, 'cert.pem') : null, host, port, baseDn: BASE_DN, bindDn: BIND_DN, bindPassword: BIND_PASSWORD,
    adminDn: ADMIN_DN, adminPassword: ADMIN_PASSWORD, users, dir,
    async addUser(user) {
      const client = new Client({ url, timeout: 5000, connectTimeout: 5000 });
      try {
        await client.bind(ADMIN_DN, ADMIN_PASSWORD);
        await client.add(userDn(user), userAttrs(user));
      } finally {
        await client.unbind().catch(() => undefined);
      }
    },
    searches: () => counts.SRCH,
    binds: () => counts.BIND,
    connections: () => counts.ACCEPT,
    log: () => logLines,
    stop,
    async kill() {
      const c = child;
      if (c === null) return;
      c.kill('SIGKILL');
      await exited;
    },
    async pause() {
      const c = child as ChildProcess | null;
      if (c === null || c.pid === undefined) return;
      c.kill('SIGSTOP');
      // stopped means the kernel says so (state T), not a sleep
      const stat = `/proc/${c.pid}/stat`;
      const until = Date.now() + 5000;
      while (Date.now() < until) {
        const state = fs.readFileSync(stat, 'utf8').replace(/^.*\) /s, '')[0];
        if (state === 'T') return;
        await new Promise((r) => setTimeout(r, 5));
      }
      throw new Error('slapd did not stop on SIGSTOP');
    },
    resume() { (child as ChildProcess | null)?.kill('SIGCONT'); },
    async restart() {
      await stop();
      await spawnSlapd();
    },
  };
}
