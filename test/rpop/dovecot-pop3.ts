/**
 * test/rpop/dovecot-pop3.ts: a throwaway Dovecot POP3 server (Debian `dovecot-pop3d`) for the
 * RPOP tests, from a config written into a fresh temp dir, as test/imap/dovecot.ts does for
 * IMAP: its own base_dir, state and logs; users from a passwd-file (plain passwords); maildirs
 * under the temp dir; POP3 on 127.0.0.1 (STLS with the certificate) and POP3S on another port;
 * the current user (under root: `nobody`, through setpriv). Nothing under /etc is read or written.
 *
 * Exports: `startDovecotPop3(opts)` → { port, tlsPort, deliver(user, bytes), count(user) (files
 * in the maildir), stop() }; `dovecotPop3Installed()`.
 * Throws: rejects when dovecot does not start or greet in 20 s (its log's tail in the message).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../helpers.ts';
import { descendants } from '../../bench/lib/proc.ts';
import { greets, runAs } from '../imap/dovecot.ts';

export function dovecotPop3Installed(): boolean {
  const r = spawnSync('dpkg-query', ['-W', '-f=${Status}', 'dovecot-pop3d'], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.includes('ok installed');
}

export interface DovecotPop3 {
  port: number;
  tlsPort: number;
  deliver(user: string, bytes: Buffer): void;
  count(user: string): number;
  stop(): Promise<void>;
}

let n = 0;

export async function startDovecotPop3(o: { users: Array<{ user: string; password: string }>; certFile: string; keyFile: string }): Promise<DovecotPop3> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'postern-dovecot-pop3-'));
  for (const d of ['run', 'state', 'logs', 'mail']) fs.mkdirSync(path.join(dir, d), { recursive: true });
  fs.chmodSync(dir, 0o755);
  const me = runAs();
  const port = await freePort();
  const tlsPort = await freePort();
  fs.copyFileSync(o.certFile, path.join(dir, 'cert.pem'));
  fs.copyFileSync(o.keyFile, path.join(dir, 'key.pem'));
  fs.chmodSync(path.join(dir, 'key.pem'), 0o644);
  const conf = path.join(dir, 'dovecot.conf');
  fs.writeFileSync(conf, `base_dir = ${dir}/run
state_dir = ${dir}/state
instance_name = postern-pop3-peer-${port}
log_path = ${dir}/logs/dovecot.log
protocols = pop3
listen = 127.0.0.1
ssl = yes
ssl_cert = <${dir}/cert.pem
ssl_key = <${dir}/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = ${me.name}
default_login_user = ${me.name}
default_internal_group = ${me.group}
first_valid_uid = ${Math.min(me.uid, 100)}
mail_location = maildir:${dir}/mail/%u/Maildir
pop3_uidl_format = %08Xu%08Xv
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u ${dir}/users
}
userdb {
  driver = static
  args = uid=${me.name} gid=${me.group} home=${dir}/mail/%u
}
service anvil {
  chroot =
}
service pop3-login {
  chroot =
  inet_listener pop3 {
    address = 127.0.0.1
    port = ${port}
  }
  inet_listener pop3s {
    address = 127.0.0.1
    port = ${tlsPort}
    ssl = yes
  }
}
`);
  fs.writeFileSync(path.join(dir, 'users'), o.users.map((u) => `${u.user}:{PLAIN}${u.password}::::::`).join('\n') + '\n');
  const maildir = (user: string): string => path.join(dir, 'mail', user, 'Maildir');
  for (const u of o.users) for (const s of ['cur', 'new', 'tmp']) fs.mkdirSync(path.join(maildir(u.user), s), { recursive: true });
  const own = (p: string): void => {
    if (process.getuid?.() === me.uid) return;
    fs.chownSync(p, me.uid, me.gid);
    if (fs.statSync(p).isDirectory()) for (const e of fs.readdirSync(p)) own(path.join(p, e));
  };
  for (const d of ['run', 'state', 'logs', 'mail']) own(path.join(dir, d));
  const drop = process.getuid?.() === me.uid ? '' : `setpriv --reuid=${me.uid} --regid=${me.gid} --clear-groups -- `;
  const logTail = (): string => {
    try {
      return fs.readFileSync(path.join(dir, 'logs', 'dovecot.log'), 'utf8').split('\n').slice(-20).join('\n');
    } catch {
      return '(no log)';
    }
  };
  const pidFile = path.join(dir, 'run', 'master.pid');
  const halt = async (): Promise<void> => {
    let pid: number;
    try {
      pid = Number(fs.readFileSync(pidFile, 'utf8').trim());
    } catch {
      return;
    }
    const all = descendants(pid);
    spawnSync('doveadm', ['-c', conf, 'stop'], { stdio: 'ignore', timeout: 10_000 });
    for (const p of all) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  };
  const r = spawnSync('bash', ['-c', `exec ${drop}dovecot -c "$0" </dev/null >/dev/null 2>&1`, conf], { encoding: 'utf8' });
  if (r.status !== 0) {
    const tail = logTail();
    fs.rmSync(dir, { recursive: true, force: true });
    throw new Error(`dovecot did not start (exit ${r.status}): ${tail}`);
  }
  const until = Date.now() + 20_000;
  while (!(await greets(port, 2000, '+OK'))) {
    if (Date.now() > until) {
      const tail = logTail();
      await halt();
      fs.rmSync(dir, { recursive: true, force: true });
      throw new Error(`dovecot did not answer on port ${port}: ${tail}`);
    }
    await new Promise((res) => setTimeout(res, 50));
  }
  return {
    port,
    tlsPort,
    deliver(user, bytes) {
      const file = path.join(maildir(user), 'new', `${Date.now()}.M${++n}P${process.pid}.peer`);
      fs.writeFileSync(file, bytes);
      if (process.getuid?.() !== me.uid) fs.chownSync(file, me.uid, me.gid);
    },
    count(user) {
      return ['cur', 'new'].reduce((a, s) => a + fs.readdirSync(path.join(maildir(user), s)).length, 0);
    },
    async stop() {
      await halt();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
