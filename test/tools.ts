/**
 * test/tools.ts: the system tools `npm test` and `npm run bench` drive, and the step that makes
 * sure of them before the suite (or a bench) runs.
 *
 *   node test/tools.ts test       # every tool the test suite needs (npm test runs this first)
 *   node test/tools.ts bench      # every tool of the benches' peers (npm run bench runs this first)
 *   node test/tools.ts TOOL …     # just these rows of TOOLS
 *
 * TOOLS is the one table of tool → Debian package. A tool is present when its command is an
 * executable file (a bare name is looked up on PATH and in the sbin directories, which a
 * non-root PATH may lack). Where some are missing:
 *   - running as root on a machine with apt-get: installs their packages, all at once, under an
 *     exclusive `flock` on `<tmpdir>/postern-apt.lock` (other jobs may run apt at the same time),
 *     `apt-get update` once, then `apt-get install -y` (rows marked `recommends: false` with
 *     --no-install-recommends), with DEBIAN_FRONTEND=noninteractive; then checks again;
 *   - otherwise: installs nothing and fails at once with one line naming the exact command to
 *     run (`sudo apt-get update && sudo apt-get install -y …`).
 * As a command it prints that line on stderr and exits 1; nothing is printed when every tool is
 * there.
 *
 * Exports: `TOOLS`, `ToolName`, `ToolSet`, `ToolHost`, `systemHost`, `toolsFor`, `missingTools`,
 * `ensureTools`, `ToolsMissingError`, `accessible`.
 * Throws: `ToolsMissingError` (code TOOLS_MISSING: missing and cannot install, or still missing
 * after installing; TOOLS_INSTALL_FAILED: apt-get failed) from `ensureTools`.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export type ToolSet = 'test' | 'bench';

interface ToolRow {
  /** Debian package that provides it. */
  pkg: string;
  /** What to look for: a command name (an executable on PATH or in the sbin directories), an
   * absolute path (a file), or `dpkg:PACKAGE` (the package is installed). */
  probe: string;
  /** false: installed with --no-install-recommends (its recommends would start services). */
  recommends?: boolean;
  /** Which runs need it. */
  for: readonly ToolSet[];
  /** Who drives it. */
  why: string;
}

/** The one table of system tools: name → Debian package. */
export const TOOLS = {
  python3: { pkg: 'python3', probe: 'python3', for: ['test'], why: 'smtplib, poplib, imaplib and ftplib clients' },
  curl: { pkg: 'curl', probe: 'curl', for: ['test'], why: 'SMTP, POP3, IMAP, FTP and HTTP client; the README first steps' },
  openssl: { pkg: 'openssl', probe: 'openssl', for: ['test'], why: 'test certificates' },
  lftp: { pkg: 'lftp', probe: 'lftp', for: ['test', 'bench'], why: 'FTP mirror and restore' },
  mbsync: { pkg: 'isync', probe: 'mbsync', for: ['test'], why: 'IMAP client' },
  fetchmail: { pkg: 'fetchmail', probe: 'fetchmail', for: ['test'], why: 'IMAP client' },
  dovecot: { pkg: 'dovecot-core', probe: 'dovecot', for: ['test', 'bench'], why: 'the IMAP and POP3 peer' },
  doveadm: { pkg: 'dovecot-core', probe: 'doveadm', for: ['test', 'bench'], why: 'stops the peer' },
  'dovecot-imap': { pkg: 'dovecot-imapd', probe: '/usr/lib/dovecot/imap', for: ['test', 'bench'], why: 'the IMAP differential peer' },
  chromium: { pkg: 'chromium', probe: 'chromium', for: ['test'], why: 'WebMail browser tests (playwright-core)' },
  dnsmasq: { pkg: 'dnsmasq-base', probe: 'dnsmasq', for: ['test'], recommends: false, why: 'the name server of the DNS tests (test/dns-server.ts)' },
  logger: { pkg: 'bsdutils', probe: 'logger', for: ['test'], why: 'syslog datagrams (RFC 5424, RFC 3164) to the Log service (util-linux logger)' },
  swaks: { pkg: 'swaks', probe: 'swaks', for: ['test'], why: 'SMTP client of the DSN and SMTP routing tests' },
  slapd: { pkg: 'slapd', probe: 'slapd', for: ['test'], recommends: false, why: 'the LDAP directory of the user-map and cluster tests (test/ldap-server.ts)' },
  'dovecot-pop3': { pkg: 'dovecot-pop3d', probe: '/usr/lib/dovecot/pop3', for: ['bench'], why: 'the POP3 peer' },
  vsftpd: { pkg: 'vsftpd', probe: 'vsftpd', for: ['bench'], why: 'the FTP peer' },
  postfix: { pkg: 'postfix', probe: 'postfix', for: ['bench'], why: 'the SMTP peer' },
  'smtp-source': { pkg: 'postfix', probe: 'smtp-source', for: ['bench'], why: 'SMTP load generator' },
  'smtp-sink': { pkg: 'postfix', probe: 'smtp-sink', for: ['bench'], why: 'SMTP sink peer' },
  cc: { pkg: 'gcc', probe: 'cc', for: ['bench'], why: 'builds the load clients (bench/pop3-client.c, bench/smtp-client.c)' },
  php: { pkg: 'php-cli', probe: 'php', for: ['bench'], recommends: false, why: 'runs the Roundcube peer (php -S)' },
  roundcube: { pkg: 'roundcube-core', probe: '/usr/share/roundcube/index.php', for: ['bench'], recommends: false, why: 'the WebMail peer' },
  'roundcube-sqlite3': { pkg: 'roundcube-sqlite3', probe: 'dpkg:roundcube-sqlite3', for: ['bench'], recommends: false, why: 'the WebMail peer\'s database' },
} as const satisfies Record<string, ToolRow>;

export type ToolName = keyof typeof TOOLS;

/** What the step touches on the machine; tests inject their own. */
export interface ToolHost {
  /** True if the probe (command name or absolute path) is an executable file. */
  has(probe: string): boolean;
  isRoot: boolean;
  /** True if apt-get is there to install with. */
  hasApt: boolean;
  /** Run a command to its end (output shown); throws if it fails. */
  run(cmd: string, args: string[], env: Record<string, string>): void;
  /** A progress line (stderr). */
  say(line: string): void;
}

export class ToolsMissingError extends Error {
  readonly code: 'TOOLS_MISSING' | 'TOOLS_INSTALL_FAILED';
  constructor(code: 'TOOLS_MISSING' | 'TOOLS_INSTALL_FAILED', message: string) {
    super(message);
    this.code = code;
  }
}

const SBIN = ['/usr/local/sbin', '/usr/sbin', '/sbin'];

/** `p` is a file (or a directory) this process may use with `mode` (fs.constants.X_OK, W_OK …). */
export function accessible(p: string, mode: number, kind: 'file' | 'dir'): boolean {
  try {
    fs.accessSync(p, mode);
    const st = fs.statSync(p);
    return kind === 'file' ? st.isFile() : st.isDirectory();
  } catch {
    return false;
  }
}

const executable = (file: string): boolean => accessible(file, fs.constants.X_OK, 'file');

/** The real machine. */
export const systemHost: ToolHost = {
  has(probe: string): boolean {
    if (probe.startsWith('dpkg:')) return ['', ':amd64', ':arm64', ':all'].some((a) => fs.existsSync(`/var/lib/dpkg/info/${probe.slice(5)}${a}.list`));
    if (probe.startsWith('/')) return fs.statSync(probe, { throwIfNoEntry: false })?.isFile() ?? false;
    const dirs = [...(process.env.PATH ?? '').split(path.delimiter).filter((d) => d !== ''), ...SBIN];
    return dirs.some((d) => executable(path.join(d, probe)));
  },
  isRoot: process.getuid?.() === 0,
  get hasApt(): boolean {
    return this.has('apt-get');
  },
  run(cmd: string, args: string[], env: Record<string, string>): void {
    execFileSync(cmd, args, { stdio: ['ignore', process.stderr, process.stderr], env: { ...process.env, ...env } });
  },
  say(line: string): void {
    process.stderr.write(`${line}\n`);
  },
};

/** The rows a run needs. */
export function toolsFor(set: ToolSet): ToolName[] {
  return (Object.keys(TOOLS) as ToolName[]).filter((n) => (TOOLS[n].for as readonly ToolSet[]).includes(set));
}

/** The named tools that are not there. */
export function missingTools(names: readonly ToolName[], host: ToolHost = systemHost): ToolName[] {
  return names.filter((n) => !host.has(TOOLS[n].probe));
}

const packagesOf = (names: readonly ToolName[]): string[] => [...new Set(names.map((n) => TOOLS[n].pkg))];
const plain = (n: ToolName): boolean => (TOOLS[n] as ToolRow).recommends !== false;

/** The apt-get commands that install `missing`: one update, then the installs (those without
 * their recommends apart): with sudo for the line shown to a user, quiet for the run as root. */
function aptLine(missing: readonly ToolName[], o: { sudo: boolean }): string {
  const [run, quiet] = o.sudo ? ['sudo apt-get', ''] : ['apt-get', ' -qq'];
  const steps = [`${run} update${quiet}`];
  const withRec = packagesOf(missing.filter(plain));
  const without = packagesOf(missing.filter((n) => !plain(n)));
  if (withRec.length > 0) steps.push(`${run} install -y${quiet} ${withRec.join(' ')}`);
  if (without.length > 0) steps.push(`${run} install -y${quiet} --no-install-recommends ${without.join(' ')}`);
  return steps.join(' && ');
}

/** Make sure the named tools are there (installing them as root with apt-get); returns the
 * packages installed (none when nothing was missing). */
export function ensureTools(names: readonly ToolName[], o: { host?: ToolHost; lockFile?: string; what?: string } = {}): string[] {
  const host = o.host ?? systemHost;
  const what = o.what ?? 'this run';
  const missing = missingTools(names, host);
  if (missing.length === 0) return [];
  const pkgs = packagesOf(missing);
  const list = pkgs.join(' ');
  if (!host.hasApt) {
    throw new ToolsMissingError('TOOLS_MISSING', `postern: ${what} needs ${missing.join(', ')}, and this machine has no apt-get: install the Debian packages ${list} (or their equivalents)`);
  }
  if (!host.isRoot) {
    throw new ToolsMissingError('TOOLS_MISSING', `postern: ${what} needs ${missing.join(', ')}; run: ${aptLine(missing, { sudo: true })}`);
  }
  const lockFile = o.lockFile ?? path.join(os.tmpdir(), 'postern-apt.lock');
  host.say(`postern: ${what} needs ${missing.join(', ')}: installing ${list} (apt-get, under ${lockFile}) …`);
  try {
    host.run('flock', [lockFile, 'sh', '-c', aptLine(missing, { sudo: false })], { DEBIAN_FRONTEND: 'noninteractive' });
  } catch (e) {
    throw new ToolsMissingError('TOOLS_INSTALL_FAILED', `postern: apt-get install -y ${list} failed (${(e as Error).message.split('\n')[0]}); run it by hand to see why`);
  }
  const still = missingTools(missing, host);
  if (still.length > 0) {
    throw new ToolsMissingError('TOOLS_MISSING', `postern: after installing ${list}, ${still.join(', ')} still missing (looked for ${still.map((n) => TOOLS[n].probe).join(', ')})`);
  }
  host.say(`postern: installed ${list}`);
  return pkgs;
}

function main(args: string[]): number {
  let names: ToolName[];
  let what: string;
  if (args.length === 1 && (args[0] === 'test' || args[0] === 'bench')) {
    names = toolsFor(args[0]);
    what = args[0] === 'test' ? 'npm test' : 'npm run bench';
  } else {
    const unknown = args.filter((a) => !Object.hasOwn(TOOLS, a));
    if (args.length === 0 || unknown.length > 0) {
      process.stderr.write(`usage: node test/tools.ts test|bench|TOOL… (TOOL one of ${Object.keys(TOOLS).join(', ')})\n`);
      return 2;
    }
    names = args as ToolName[];
    what = 'this run';
  }
  try {
    ensureTools(names, { what });
    return 0;
  } catch (e) {
    if (!(e instanceof ToolsMissingError)) throw e;
    process.stderr.write(`${e.message}\n`);
    return 1;
  }
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = main(process.argv.slice(2));
}
