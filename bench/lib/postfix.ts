/**
 * bench/lib/postfix.ts: a Postfix instance of a bench's own, the peer of the SMTP benches. Every
 * file it reads or writes is in a temporary directory: main.cf and master.cf written here (the
 * machine's /etc/postfix is neither read nor edited, so a package installed with "No
 * configuration" works), its own queue and data directories, started with `postfix -c DIR`;
 * the default instance, if any, is left alone. smtpd listens on a free loopback port; nothing is
 * chrooted; logging is off.
 *
 *   const pf = await startPostfix({ name: 'outbound', main: ['relayhost = [127.0.0.1]:2525'] });
 *   … pf.port, pf.dir, pf.cpuSeconds() …
 *   await pf.stop();                       // stops it and removes the directory
 *
 * Exports: `startPostfix(o)`, `Postfix`. Throws (rejects) when Postfix's own `check` or `start`
 * fails, or its port does not open within 20 s.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { descendants, sh, treeCpuSeconds } from './proc.ts';
import { freePort, waitPort } from './net.ts';

export interface Postfix {
  readonly port: number;
  /** The instance's temporary directory (its `etc/`, `queue/`, `data/`, and whatever the bench adds). */
  readonly dir: string;
  /** utime+stime+cutime+cstime (s) of the master and every live descendant: a daemon that exited
   * during a run still counts through the master's cutime/cstime (the master reaps them). */
  cpuSeconds(): number;
  stop(): Promise<void>;
}

/** master.cf of the instance: Postfix 3.x's default services, smtpd on our port, none chrooted. */
function masterCf(port: number): string {
  const rows: Array<[string, string, string, string, string, string, string]> = [
    [`127.0.0.1:${port}`, 'inet', 'n', '-', 'n', '-', '- smtpd'],
    ['pickup', 'unix', 'n', '-', 'n', '60', '1 pickup'],
    ['cleanup', 'unix', 'n', '-', 'n', '-', '0 cleanup'],
    ['qmgr', 'unix', 'n', '-', 'n', '300', '1 qmgr'],
    ['tlsmgr', 'unix', '-', '-', 'n', '1000?', '1 tlsmgr'],
    ['rewrite', 'unix', '-', '-', 'n', '-', '- trivial-rewrite'],
    ['bounce', 'unix', '-', '-', 'n', '-', '0 bounce'],
    ['defer', 'unix', '-', '-', 'n', '-', '0 bounce'],
    ['trace', 'unix', '-', '-', 'n', '-', '0 bounce'],
    ['verify', 'unix', '-', '-', 'n', '-', '1 verify'],
    ['flush', 'unix', 'n', '-', 'n', '1000?', '0 flush'],
    ['proxymap', 'unix', '-', '-', 'n', '-', '- proxymap'],
    ['proxywrite', 'unix', '-', '-', 'n', '-', '1 proxymap'],
    ['smtp', 'unix', '-', '-', 'n', '-', '- smtp'],
    ['relay', 'unix', '-', '-', 'n', '-', '- smtp'],
    ['showq', 'unix', 'n', '-', 'n', '-', '- showq'],
    ['error', 'unix', '-', '-', 'n', '-', '- error'],
    ['retry', 'unix', '-', '-', 'n', '-', '- error'],
    ['discard', 'unix', '-', '-', 'n', '-', '- discard'],
    ['local', 'unix', '-', 'n', 'n', '-', '- local'],
    ['virtual', 'unix', '-', 'n', 'n', '-', '- virtual'],
    ['lmtp', 'unix', '-', '-', 'n', '-', '- lmtp'],
    ['anvil', 'unix', '-', '-', 'n', '-', '1 anvil'],
    ['scache', 'unix', '-', '-', 'n', '-', '1 scache'],
    ['postlog', 'unix-dgram', 'n', '-', 'n', '-', '1 postlogd'],
  ];
  return `${rows.map((r) => r.join('  ')).join('\n')}\n`;
}

/** Start an instance: `main` holds the bench's own main.cf lines (or makes them from the
 * instance's directory), after the instance's paths and the loopback-only basics (a later line
 * overrides an earlier one, as in any main.cf); `prepare` puts the bench's own files (maps,
 * mailboxes) in that directory before Postfix starts. */
export async function startPostfix(o: { name: string; main: readonly string[] | ((dir: string) => readonly string[]); prepare?: (dir: string) => void }): Promise<Postfix> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `postfix-bench-${o.name}-`));
  fs.chmodSync(dir, 0o755);
  const conf = path.join(dir, 'etc');
  const queue = path.join(dir, 'queue');
  const data = path.join(dir, 'data');
  for (const d of [conf, queue, data]) fs.mkdirSync(d, { mode: 0o755 });
  sh('chown', ['postfix', data]);
  const port = await freePort();
  o.prepare?.(dir);
  const own = typeof o.main === 'function' ? o.main(dir) : o.main;
  fs.writeFileSync(path.join(conf, 'main.cf'), [
    'compatibility_level = 3.6',
    `queue_directory = ${queue}`,
    `data_directory = ${data}`,
    'command_directory = /usr/sbin',
    'daemon_directory = /usr/lib/postfix/sbin',
    'shlib_directory = /usr/lib/postfix',
    'meta_directory = /etc/postfix',
    'mail_owner = postfix',
    'setgid_group = postdrop',
    'inet_interfaces = 127.0.0.1',
    'inet_protocols = ipv4',
    'mydomain = local',
    'myorigin = $myhostname',
    'mydestination =',
    'local_recipient_maps =',
    'alias_maps =',
    'alias_database =',
    'mynetworks = 127.0.0.0/8',
    'smtpd_tls_security_level = none',
    'smtp_tls_security_level = none',
    'message_size_limit = 52428800',
    'default_process_limit = 250',
    'biff = no',
    'maillog_file =',
    `syslog_name = postfix-bench-${o.name}`,
    ...own,
    '',
  ].join('\n'));
  fs.writeFileSync(path.join(conf, 'master.cf'), masterCf(port));
  const pf = (...args: string[]): string => sh('postfix', ['-c', conf, ...args]);
  try {
    pf('check');
    pf('start');
    await waitPort(port);
  } catch (e) {
    try {
      pf('stop');
    } catch {
      /* not started */
    }
    fs.rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  const pidFile = path.join(queue, 'pid', 'master.pid');
  const masterPid = Number(fs.readFileSync(pidFile, 'utf8').trim());
  if (!(masterPid > 0)) throw new Error(`no Postfix master pid in ${pidFile}`);
  return {
    port,
    dir,
    cpuSeconds: () => treeCpuSeconds(descendants(masterPid)),
    async stop() {
      try {
        pf('stop');
      } catch {
        /* already stopped */
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
