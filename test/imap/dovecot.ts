/**
 * test/imap/dovecot.ts: a throwaway Dovecot IMAP server (Debian `dovecot-imapd`) for the
 * differential test and the IMAP bench, configured from a file written into a fresh temp dir:
 * its own base_dir, state and logs there; users from a passwd-file (plain passwords, the full
 * address as user name); maildirs under the temp dir; IMAP only, on 127.0.0.1 and a free
 * unprivileged port (and an implicit-TLS port when a certificate is given); every account with
 * the special-use folders Drafts, Sent, Trash, Junk and Archive, all subscribed with INBOX (as
 * Postern makes them) and `/` as hierarchy separator. Dovecot runs as the current user (its login and internal users are
 * the current user, the userdb gives every account the current uid/gid; under root, all of it
 * runs as `nobody`, started through setpriv): no privileged user switching, nothing under /etc
 * read or written.
 *
 * Exports: `startDovecot(opts)` → `DovecotPeer` (port, tlsPort, dir, conf, maildir(user),
 * deliver(user, bytes, { folder?, flags? }) writing a message file straight into a maildir,
 * masterPid(), pids() (the master and all its descendants), pssBytes(), cpuSeconds(), restart(),
 * stop()); `descendants(pid)`, `pssBytes(pids)`, `treeCpuSeconds(pids)` (from bench/lib/proc.ts);
 * `dovecotInstalled()`; `runAs()` (who a throwaway Dovecot runs as), `greets(port, ms, greeting)`
 * (also used by test/rpop/dovecot-pop3.ts).
 * Throws: startDovecot rejects when `dovecot` is missing, exits at once, or does not greet
 * within `startTimeoutMs` (its log's tail is in the message); stop() never throws.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../../bench/lib/net.ts';
import { descendants, pssBytes, treeCpuSeconds } from '../../bench/lib/proc.ts';

export { descendants, pssBytes, treeCpuSeconds };

export interface DovecotUser {
  /** The login name, usually a full address. */
  user: string;
  password: string;
}

export interface DovecotOptions {
  users: readonly DovecotUser[];
  /** PEM files for an implicit-TLS listener (and STARTTLS on the plain one). */
  tls?: { certFile: string; keyFile: string };
  /** The bench's capacity settings: many processes and clients, login processes serving many
   * clients each (`service_count = 0`), the auth cache on. */
  capacity?: boolean;
  /** Open-file limit to start Dovecot under (capacity runs need thousands). */
  nofile?: number;
  /** Parent of the temp dir (default: the OS temp dir). */
  parentDir?: string;
  startTimeoutMs?: number;
}

export interface DovecotPeer {
  readonly port: number;
  /** The implicit-TLS port, or null without `tls`. */
  readonly tlsPort: number | null;
  readonly dir: string;
  readonly conf: string;
  /** The user's maildir (cur/new/tmp made when the user is added). */
  maildir(user: string, folder?: string): string;
  /** Put a message file straight into a maildir's cur/ (Dovecot picks it up on the next sync). */
  deliver(user: string, bytes: Buffer, o?: { folder?: string; flags?: string }): void;
  masterPid(): number;
  /** The master and every process under it. */
  pids(): number[];
  /** PSS summed over pids() (bytes): Dovecot shares pages between its processes. */
  pssBytes(): number;
  /** CPU seconds of the master and its children, reaped ones included (cutime, cstime). */
  cpuSeconds(): number;
  /** Stop and start again on the same files (fresh processes; the mail stays). */
  restart(): Promise<void>;
  /** Stop and remove the directory. */
  stop(): Promise<void>;
}

const SPECIAL_USE = ['Drafts', 'Sent', 'Trash', 'Junk', 'Archive'] as const;

/** The Dovecot binaries are installed (the imap one too). */
export function dovecotInstalled(): boolean {
  const r = spawnSync('dpkg-query', ['-W', '-f=${Status}', 'dovecot-imapd'], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.includes('ok installed');
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface RunAs { name: string; group: string; uid: number; gid: number }

/** Who Dovecot runs as: the current user, or, under root, `nobody` (Dovecot refuses to run its
 * login and mail processes as root; started unprivileged, it switches to no other user). */
export function runAs(): RunAs {
  const info = os.userInfo();
  if (info.uid !== 0) {
    let group = String(info.gid);
    try {
      group = execFileSync('id', ['-gn'], { encoding: 'utf8' }).trim();
    } catch {
      /* the numeric gid */
    }
    return { name: info.username, group, uid: info.uid, gid: info.gid };
  }
  const id = (flag: string): string => execFileSync('id', [flag, 'nobody'], { encoding: 'utf8' }).trim();
  return { name: 'nobody', group: id('-gn'), uid: Number(id('-u')), gid: Number(id('-g')) };
}

function configText(dir: string, port: number, tlsPort: number | null, me: RunAs, o: DovecotOptions): string {
  const folders = SPECIAL_USE.map((f) => `  mailbox ${f} {\n    auto = subscribe\n    special_use = \\${f}\n  }`).join('\n');
  const tls = o.tls === undefined
    ? 'ssl = no'
    : `ssl = yes\nssl_cert = <${dir}/cert.pem\nssl_key = <${dir}/key.pem`;
  const capacity = o.capacity === true
    ? `default_process_limit = 10000
default_client_limit = 20000
default_vsz_limit = 256M
auth_cache_size = 1M
service auth {
  client_limit = 40000
}
service imap {
  process_limit = 10000
}
`
    : '';
  const loginCapacity = o.capacity === true ? '  service_count = 0\n  process_min_avail = 2\n  client_limit = 10000\n' : '';
  return `# a throwaway instance: loopback only, the current user, everything under this directory
base_dir = ${dir}/run
state_dir = ${dir}/state
instance_name = postern-peer-${port}
log_path = ${dir}/logs/dovecot.log
info_log_path = ${dir}/logs/dovecot-info.log
protocols = imap
listen = 127.0.0.1
${tls}
disable_plaintext_auth = no
auth_mechanisms = plain login
login_trusted_networks =
mail_max_userip_connections = 20000
default_internal_user = ${me.name}
default_login_user = ${me.name}
default_internal_group = ${me.group}
first_valid_uid = ${Math.min(me.uid, 100)}
mail_location = maildir:${dir}/mail/%u/Maildir
mail_fsync = optimized
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u ${dir}/users
}
userdb {
  driver = static
  args = uid=${me.name} gid=${me.group} home=${dir}/mail/%u
}
namespace inbox {
  inbox = yes
  separator = /
  mailbox INBOX {
    auto = subscribe
  }
${folders}
}
${capacity}service anvil {
  chroot =
${o.capacity === true ? '  client_limit = 40000\n' : ''}}
service imap-login {
  chroot =
  inet_listener imap {
    address = 127.0.0.1
    port = ${port}
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = ${tlsPort ?? 0}
    ssl = yes
  }
${loginCapacity}}
`;
}

/** Resolves true when something on the port sends a first line starting with `greeting`
 * (`* OK` for IMAP, `+OK` for POP3), false on anything else or after `timeoutMs`. */
export async function greets(port: number, timeoutMs: number, greeting = '* OK'): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let buf = '';
    const done = (ok: boolean): void => {
      clearTimeout(t);
      s.destroy();
      resolve(ok);
    };
    const t = setTimeout(() => done(false), timeoutMs);
    s.setEncoding('utf8');
    s.on('data', (d: string) => {
      buf += d;
      if (buf.includes('\n')) done(buf.startsWith(greeting));
    });
    s.on('error', () => done(false));
    s.on('close', () => done(false));
  });
}

let serial = 0;
let delivered = 0;

export async function startDovecot(o: DovecotOptions): Promise<DovecotPeer> {
  const dir = fs.mkdtempSync(path.join(o.parentDir ?? os.tmpdir(), 'postern-dovecot-'));
  for (const d of ['run', 'state', 'logs', 'mail']) fs.mkdirSync(path.join(dir, d), { recursive: true });
  fs.chmodSync(dir, 0o755);
  const me = runAs();
  const port = await freePort();
  const tlsPort = o.tls !== undefined ? await freePort() : null;
  if (o.tls !== undefined) {
    // copies Dovecot (maybe another user) can read wherever the originals are
    fs.copyFileSync(o.tls.certFile, path.join(dir, 'cert.pem'));
    fs.copyFileSync(o.tls.keyFile, path.join(dir, 'key.pem'));
    fs.chmodSync(path.join(dir, 'key.pem'), 0o644);
  }
  const conf = path.join(dir, 'dovecot.conf');
  fs.writeFileSync(conf, configText(dir, port, tlsPort, me, o));
  fs.writeFileSync(path.join(dir, 'users'), o.users.map((u) => `${u.user}:{PLAIN}${u.password}::::::`).join('\n') + '\n');
  const maildir = (user: string, folder = 'INBOX'): string => {
    const root = path.join(dir, 'mail', user, 'Maildir');
    // Maildir++ layout: INBOX is the root, a folder a/b is .a.b
    return folder.toUpperCase() === 'INBOX' ? root : path.join(root, `.${folder.split('/').join('.')}`);
  };
  for (const u of o.users) for (const s of ['cur', 'new', 'tmp']) fs.mkdirSync(path.join(maildir(u.user), s), { recursive: true });
  const own = (p: string): void => {
    if (process.getuid?.() === me.uid) return;
    fs.chownSync(p, me.uid, me.gid);
    if (fs.statSync(p).isDirectory()) for (const e of fs.readdirSync(p)) own(path.join(p, e));
  };
  for (const d of ['run', 'state', 'logs', 'mail']) own(path.join(dir, d));

  const ulimit = o.nofile !== undefined ? `ulimit -n ${o.nofile} 2>/dev/null || ulimit -n "$(ulimit -Hn)"; ` : '';
  const drop = process.getuid?.() === me.uid ? '' : `setpriv --reuid=${me.uid} --regid=${me.gid} --clear-groups -- `;
  const logTail = (): string => {
    try {
      return fs.readFileSync(path.join(dir, 'logs', 'dovecot.log'), 'utf8').split('\n').slice(-20).join('\n');
    } catch {
      return '(no log)';
    }
  };
  const pidFile = path.join(dir, 'run', 'master.pid');
  const masterPid = (): number => Number(fs.readFileSync(pidFile, 'utf8').trim());
  const cleanup = (): void => fs.rmSync(dir, { recursive: true, force: true });
  /** Start the master and wait for a greeting; throws (the processes killed) on failure. */
  const launch = async (): Promise<void> => {
    // dovecot daemonizes; its output goes to its log files (a pipe would be held open)
    const r = spawnSync('bash', ['-c', `${ulimit}exec ${drop}dovecot -c "$0" </dev/null >/dev/null 2>&1`, conf], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`dovecot did not start (exit ${r.status}): ${logTail()}`);
    const until = Date.now() + (o.startTimeoutMs ?? 20_000);
    while (!(await greets(port, 2000))) {
      if (Date.now() > until) {
        const tail = logTail();
        await halt();
        throw new Error(`dovecot did not answer on port ${port}: ${tail}`);
      }
      await sleep(50);
    }
  };
  /** Stop the master and every process under it. */
  const halt = async (): Promise<void> => {
    let pid: number;
    try {
      pid = masterPid();
    } catch {
      return;
    }
    const all = descendants(pid);
    spawnSync('doveadm', ['-c', conf, 'stop'], { stdio: 'ignore', timeout: 10_000 });
    for (let i = 0; i < 100; i++) {
      try {
        process.kill(pid, 0);
      } catch {
        break;
      }
      await sleep(50);
    }
    for (const p of all) {
      try {
        process.kill(p, 'SIGKILL'); // a process the master left behind
      } catch {
        /* gone */
      }
    }
    fs.rmSync(pidFile, { force: true });
  };
  try {
    await launch();
  } catch (e) {
    cleanup();
    throw e;
  }
  serial++;
  let stopped: Promise<void> | null = null;
  const killOnExit = (): void => {
    try {
      for (const p of descendants(masterPid())) process.kill(p, 'SIGKILL');
    } catch {
      /* gone */
    }
  };
  process.on('exit', killOnExit);
  return {
    port,
    tlsPort,
    dir,
    conf,
    maildir,
    deliver(user, bytes, d = {}) {
      const md = maildir(user, d.folder);
      if (!fs.existsSync(md)) {
        fs.mkdirSync(md, { recursive: true });
        for (const s of ['cur', 'new', 'tmp']) fs.mkdirSync(path.join(md, s));
        own(md);
      }
      const file = path.join(md, 'cur', `${Math.floor(Date.now() / 1000)}.M${++delivered}P${process.pid}.peer${serial},S=${bytes.length}:2,${d.flags ?? ''}`);
      fs.writeFileSync(file, bytes);
      if (process.getuid?.() !== me.uid) fs.chownSync(file, me.uid, me.gid);
    },
    masterPid,
    pids: () => descendants(masterPid()),
    pssBytes: () => pssBytes(descendants(masterPid())),
    cpuSeconds: () => treeCpuSeconds(descendants(masterPid())),
    async restart() {
      await halt();
      await launch();
    },
    stop() {
      stopped ??= (async () => {
        process.off('exit', killOnExit);
        await halt();
        cleanup();
      })();
      return stopped;
    },
  };
}
