/**
 * bin/cluster-demo.ts: `postern cluster demo` (and `npm run cluster:demo`): the cluster of the
 * README's "Cluster" section on this machine, for a newcomer: slapd with four users and three
 * Postern processes (front end 127.0.0.2, back ends 127.0.0.3 and 127.0.0.4; the test
 * topology, test/cluster/topology.ts) from config files written to a temp directory. Prints what
 * to connect to and a sample command per protocol; Ctrl-C (or SIGTERM) stops everything.
 *
 * Exports: `runClusterDemo(argv)` → exit code. Needs Debian's slapd (`apt-get install slapd`);
 * without it, exits 1 saying so.
 */
import { startCluster, FRONT_IP, type Cluster } from '../test/cluster/topology.ts';

function usage(): string {
  return 'usage: postern cluster demo [--dir DIR]\n';
}

export async function runClusterDemo(argv: readonly string[]): Promise<number> {
  if (argv[0] !== 'demo') {
    process.stderr.write(usage());
    return 2;
  }
  const i = argv.indexOf('--dir');
  const dir = i >= 0 ? argv[i + 1] : undefined;
  process.stdout.write('starting slapd and three Postern nodes …\n');
  let c: Cluster;
  try {
    c = await startCluster({ ...(dir !== undefined ? { dir } : {}), logLevel: 'warn', echo: true, mapType: 'ldap' });
  } catch (e) {
    process.stderr.write(`postern cluster demo: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
  const f = c.frontPorts;
  const [a, b] = [c.users.find((u) => u.backend === c.back[0].ip)!, c.users.find((u) => u.backend === c.back[1].ip)!];
  const lines = [
    '',
    `cluster up in ${c.dir} (config files: front.conf, back1.conf, back2.conf; logs: *.log; ${dir !== undefined ? 'kept' : 'removed on Ctrl-C; --dir DIR keeps it'})`,
    `  LDAP       ${c.ldap?.url ?? '(none)'}   base ou=people,dc=example,dc=test`,
    ...c.nodes.map((n) => `  ${n.name.padEnd(10)} ${n.ip}   status http://${n.ip}:${n.name === 'front' ? f.status : c.backPorts.status}/status   data ${n.dataDir}`),
    '',
    'users (LDAP mailHost → back end):',
    ...c.users.map((u) => `  ${u.mail.padEnd(22)} ${u.password.padEnd(14)} ${u.backend}`),
    '',
    'through the front end:',
    `  SMTP     swaks --server ${FRONT_IP}:${f.smtp} --from you@outside.test --to ${a.mail},${b.mail}`,
    `  POP3     curl -s pop3://${FRONT_IP}:${f.pop3}/ --user '${a.mail}:${a.password}'`,
    `  IMAP     curl -s 'imap://${FRONT_IP}:${f.imap}/INBOX' -X 'SEARCH ALL' --user '${b.mail}:${b.password}'`,
    `  WebMail  http://${FRONT_IP}:${f.http}/  (log in as ${a.mail} / ${a.password})`,
    '',
    'Ctrl-C stops everything.',
    '',
  ];
  process.stdout.write(lines.join('\n'));
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  process.stdout.write('\nstopping …\n');
  await c.stop();
  return 0;
}
