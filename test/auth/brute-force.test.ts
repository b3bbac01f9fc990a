/**
 * Password guessing over real sockets on every login path: 20 parallel sessions from one IP
 * (127.0.0.50) guess on SMTP AUTH, POP3 USER/PASS and the FTP admin login, each for a bounded
 * time, against services of two threads each. The service's one login-failure tracker (across
 * its threads) lets the IP's checks start at most once per authFailureDelay whatever the number
 * of sessions, bans the IP at authBanThreshold (its new connections refused as `auth_ban`,
 * counted on /status), while another IP (127.0.0.51) logs in normally; the ban ends after
 * authBanTime. Each failed login is one warning line with the IP, and /metrics counts them.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { startServer, type Server } from '../../actors/server.ts';
import { connectLines, tmpDir, waitFor, type LineClient } from '../helpers.ts';

const SESSIONS = 20;
const GUESS_MS = 6000;
const DELAY_S = 1;
// the IP's first round (one guess per session, all at once) already reaches the ban threshold,
// and the ban outlasts the guessing, so the guessers meet it
const BAN_AT = 8;
const BAN_S = 8;
const MAX_AUTH_ERRORS = 3;
const ATTACKER = '127.0.0.50';
const OTHER = '127.0.0.51';
const PASSWORD = 'right-password';
const USER = 'user@example.org';

const throttle = `minConnThreads = 2 maxConnThreads = 2 maxAuthErrors = ${MAX_AUTH_ERRORS}
        authFailureDelay = ${DELAY_S} authFailureMaxDelay = ${DELAY_S} authFailureWindow = 60
        authBanThreshold = ${BAN_AT} authBanTime = ${BAN_S}`;
const CONFIG = `
Server {
    services = (smtpIncoming pop3 ftpBackup)
    primaryDomain = "example.org"
    statusListener = 127.0.0.1:0
    logLevel = warn
    smtpIncoming = { listeners = ( { address = 127.0.0.1:0 } ) ${throttle} }
    pop3 = { listeners = ( { address = 127.0.0.1:0 } ) ${throttle} }
    ftpBackup = { listeners = ( { address = 127.0.0.1:0 } ) ${throttle} }
}`;

const logLines: string[] = [];
let server: Server | undefined;
after(async () => server?.stop());

type Proto = 'smtpIncoming' | 'pop3' | 'ftpBackup';

interface Dialect {
  /** After the greeting: anything to say before logins. */
  hello(c: LineClient): Promise<void>;
  /** One login attempt; the reply line that decides it. */
  attempt(c: LineClient, password: string): Promise<string>;
  success: RegExp;
  failure: RegExp;
  /** The last failure before the session is closed (maxAuthErrors). */
  closing: RegExp;
  refusal: RegExp;
}

const b64 = (s: string): string => Buffer.from(s).toString('base64');

const DIALECTS: Record<Proto, Dialect> = {
  smtpIncoming: {
    async hello(c) {
      c.send('EHLO guesser.example');
      for (;;) if (/^250 /.test(await c.read())) return;
    },
    attempt: (c, pw) => c.cmd(`AUTH PLAIN ${b64(`\0${USER}\0${pw}`)}`, 60_000),
    success: /^235 /, failure: /^535 /, closing: /^421 /, refusal: /^421 4\.7\.0 .*auth_ban/,
  },
  pop3: {
    async hello() {},
    async attempt(c, pw) {
      const u = await c.cmd(`USER ${USER}`, 60_000);
      if (!u.startsWith('+OK')) return u;
      return c.cmd(`PASS ${pw}`, 60_000);
    },
    success: /^\+OK logged in/, failure: /^-ERR \[AUTH\] authentication failed/, closing: /^-ERR \[AUTH\] too many/,
    refusal: /^-ERR \[SYS\/TEMP\] too many failed logins/,
  },
  ftpBackup: {
    async hello() {},
    async attempt(c, pw) {
      const u = await c.cmd('USER admin', 60_000);
      if (!u.startsWith('331')) return u;
      return c.cmd(`PASS ${pw}`, 60_000);
    },
    success: /^230 /, failure: /^530 /, closing: /^421 Too many failed logins;/, refusal: /^421 .*\(auth_ban\)/,
  },
};

/** Connect from `ip` and read the greeting: the client, or the refusal line. */
async function open(port: number, ip: string, d: Dialect): Promise<LineClient | string> {
  const c = await connectLines(port, '127.0.0.1', ip);
  const greeting = await c.read(10_000);
  if (d.refusal.test(greeting)) {
    c.close();
    return greeting;
  }
  await d.hello(c);
  return c;
}

async function login(port: number, ip: string, d: Dialect, password: string): Promise<string> {
  const c = await open(port, ip, d);
  if (typeof c === 'string') return c;
  try {
    return await d.attempt(c, password);
  } finally {
    c.close();
  }
}

interface Tally { answered: number; refused: number; other: string[] }

/** One guessing session, reconnecting when closed, until the deadline (when it hangs up, even
 * in the middle of a wait). */
async function guesser(port: number, d: Dialect, until: number, tally: Tally): Promise<void> {
  let n = 0;
  let current: LineClient | null = null;
  const stop = setTimeout(() => current?.close(), until - Date.now());
  try {
    await guessUntil();
  } finally {
    clearTimeout(stop);
  }
  async function guessUntil(): Promise<void> {
  while (Date.now() < until) {
    let c: LineClient | string;
    try {
      c = await open(port, ATTACKER, d);
    } catch {
      continue;
    }
    if (typeof c === 'string') {
      tally.refused++;
      await new Promise((r) => setTimeout(r, 100));
      continue;
    }
    current = c;
    try {
      while (Date.now() < until) {
        const r = await d.attempt(c, `guess-${n++}`);
        if (d.failure.test(r)) tally.answered++;
        else if (d.closing.test(r)) { tally.answered++; break; }
        else { tally.other.push(r); break; }
      }
    } catch {
      // closed by the server at the end of the test; counted by the server anyway
    } finally {
      c.close();
    }
  }
  }
}

async function attack(s: Server, proto: Proto): Promise<void> {
  const d = DIALECTS[proto];
  const port = s.port(proto);
  const svc = () => s.status().services.find((x) => x.name === proto)!;
  const tally: Tally = { answered: 0, refused: 0, other: [] };
  // warm up first: one good login from the other IP, so that the service's pool (the password
  // checks) is running before the clock of the attack starts, however loaded the machine is
  assert.match(await login(port, OTHER, d, PASSWORD), d.success, `${proto}: ${OTHER} logs in before the attack`);
  const base = await waitFor(() => svc().logins?.checked ?? 0, 10_000, `${proto}: the warm-up login counted`);
  const t0 = Date.now();
  const until = t0 + GUESS_MS;
  const guessing = Promise.all(Array.from({ length: SESSIONS }, () => guesser(port, d, until, tally)));
  // meanwhile another IP logs in normally, before and after the ban (once the guesses are being checked)
  await waitFor(() => (svc().logins?.failed ?? 0) >= 1, GUESS_MS, `${proto}: the first failed guess`);
  assert.match(await login(port, OTHER, d, PASSWORD), d.success, `${proto}: ${OTHER} logs in during the attack`);
  await guessing;
  const elapsed = Date.now() - t0;
  assert.deepEqual(tally.other, [], `${proto}: unexpected replies`);

  const logins = svc().logins!;
  // a clean IP's first round runs at once (one check per session, before any has failed); then
  // its checks start at least DELAY_S apart, however many sessions it opens (+1 spare)
  const allowed = SESSIONS + Math.floor(elapsed / (DELAY_S * 1000)) + 1;
  assert.ok(logins.failed >= BAN_AT, `${proto}: the guesses were checked (${logins.failed})`);
  assert.ok(logins.checked - base <= allowed + 1, `${proto}: ${logins.checked - base} checks in ${elapsed} ms; at most ${allowed} allowed`);
  // what the clients saw: the checks, plus at most maxAuthErrors immediate failures per session once banned
  assert.ok(tally.answered <= allowed + SESSIONS * MAX_AUTH_ERRORS, `${proto}: ${tally.answered} guesses answered in ${elapsed} ms`);

  // banned: new connections refused with their own reason, counted on /status
  assert.equal(logins.bans, 1);
  assert.equal(logins.banned, 1);
  const refusal = await login(port, ATTACKER, d, PASSWORD);
  assert.match(refusal, d.refusal, `${proto}: the attacker's new connection is refused`);
  const bannedAt = Date.now();
  assert.ok(tally.refused > 0, `${proto}: the guessers met the ban`);
  assert.ok(svc().listeners[0]!.refused.auth_ban! > 0);
  assert.match(await login(port, OTHER, d, PASSWORD), d.success, `${proto}: ${OTHER} still logs in`);

  // the ban ends after authBanTime, and the IP logs in again (after its delay: it is clean only after a success)
  const back = await waitFor(async () => {
    const r = await login(port, ATTACKER, d, PASSWORD);
    return d.success.test(r) ? Date.now() : null;
  }, (BAN_S + 10) * 1000, `${proto}: the ban to end`);
  assert.ok(back - bannedAt <= (BAN_S + 10) * 1000);
  assert.equal(svc().logins!.banned, 0);

  // one warning per failed login, with the IP and the service, each key once
  const failed = logLines.filter((l) => l.includes('"msg":"login failed"') && l.includes(`"service":"${proto}"`));
  assert.equal(failed.length, svc().logins!.failed);
  for (const l of failed) {
    assert.equal(l.split('"service":').length, 2, l);
    assert.equal(l.split('"ip":').length, 2, l);
  }
  assert.ok(failed.some((l) => JSON.parse(l).ip === ATTACKER));
}

test('password guessing from 20 parallel sessions of one IP: rate bounded, then banned; another IP unaffected; the ban ends', async () => {
  const log = pino({ level: 'warn' }, { write: (s: string) => void logLines.push(s) });
  server = await startServer({ configText: CONFIG, dataDir: tmpDir(), statusPort: 0, controlSocket: false, log, loadIntervalMs: 200, backoffInitialMs: 100 });
  const s = server;
  await s.admin('account.add', { address: USER, password: PASSWORD });
  await s.admin('admin.passwd', { password: PASSWORD });
  await Promise.all((['smtpIncoming', 'pop3', 'ftpBackup'] as const).map((p) => attack(s, p)));

  const metrics = await (await fetch(`http://127.0.0.1:${s.statusPort}/metrics`)).text();
  for (const p of ['smtpIncoming', 'pop3', 'ftpBackup']) {
    const failed = s.status().services.find((x) => x.name === p)!.logins!.failed;
    assert.match(metrics, new RegExp(`^postern_login_failures_total\\{service="${p}"\\} ${failed}$`, 'm'));
    assert.match(metrics, new RegExp(`^postern_login_bans_total\\{service="${p}"\\} 1$`, 'm'));
  }
  assert.ok(logLines.some((l) => l.includes('login ban') && l.includes(ATTACKER)));
});
