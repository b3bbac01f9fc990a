/**
 * protocols/cli/index.ts: the CLI service (`cli`, seed CLI, inventory §17): the seed's
 * telnet-style administration grammar, so that scripts written for it work against Postern.
 *
 * One session per connection on the shared line-session dispatcher, its input cut by the
 * telnet framer (session/framer-telnet.ts: option negotiation refused and stripped), lines no
 * longer than the smaller of `maxCommandLength` and `maxLineLength` (over it: -ERR, counted).
 * The banner `+OK: <greetingsText>` and the `<login> ` prompt; `USER admin`, then `<password> `
 * and the password (the whole line), checked against the store's admin hash through the login
 * pipeline's gate (auth/login.ts `gatedCheck`: the per-IP failure delay and ban of the
 * service, maxAuthErrors). Before login only HELP, USER, EXIT/QUIT, GET VERSION, SET QUIET,
 * SET CONSOLE-CODES and SHOW; at most `maxAuthCommands` commands, then the session closes.
 *
 * Logged in, each line is a command of the current context (session.ts: the frame stack and
 * the answer format): the root and store contexts in store-ctx.ts, the config contexts in
 * config-ctx.ts; HELP, EXIT/QUIT and GET VERSION everywhere, SET QUIET|CONSOLE-CODES at the
 * root. Verbs are matched case-insensitively; arguments are quoted as in bash (words.ts). An
 * unknown verb, a verb of another context, a bad argument and a refused change are -ERR
 * answers counted toward maxErrors (the Nth closes the session); a failed login counts toward
 * maxAuthErrors. Commands run one at a time, in order (pipelined lines wait).
 *
 * SET CONSOLE-CODES is accepted and remembered; Postern's answers carry no console codes
 * either way. SET QUIET on: LIST and SHOW give their rows without titles and rules.
 *
 * Exports: `refusal(reason)`, `startSession(socket, ctx)` (ProtocolModule).
 * Throws nothing.
 */
import type { Socket } from 'node:net';
import { gatedCheck } from '../../auth/login.ts';
import { optionsOf } from '../../config/options.ts';
import type { RefusalReason, SessionContext, SessionHandle } from '../../service/protocol.ts';
import { TelnetFramer } from '../../session/framer-telnet.ts';
import { LineSession, noreply, stop, type ProtocolReplies, type Verdict } from '../../session/line-session.ts';
import { DUMMY_HASH } from '../../store/directory.ts';
import { CONFIG_HELP, configCommand } from './config-ctx.ts';
import { REPLIES, VERSION_LINE, err, ok, prompt, type CliData, type CliSession, type CliState, type Frame } from './session.ts';
import { STORE_HELP, accountCommand, domainCommand, domainCreateCommand, queueCommand, rootCommand } from './store-ctx.ts';
import { CliSyntaxError, keyword, splitWords, type Word } from './words.ts';

type V = Verdict<CliState>;

export const ADMIN_USER = 'admin';

export function refusal(reason: RefusalReason): string {
  switch (reason) {
    case 'deny_rule': return '-ERR: access denied\r\n';
    case 'shutting_down': return '-ERR: server shutting down, try again later\r\n';
    case 'auth_ban': return '-ERR: too many failed logins from your address, try again later\r\n';
    default: return '-ERR: too many connections, try again later\r\n';
  }
}

/** Every verb of some context: one of these in the wrong context is "not available here". */
const KNOWN = new Set(['USER', 'HELP', 'EXIT', 'QUIT', 'GET', 'SET', 'SHOW', 'LIST', 'ADD', 'UPDATE', 'REMOVE', 'CONFIG', 'COMMIT', 'DONE', 'BACK', 'CANCEL', 'RESET', 'SAVE', 'START', 'STOP', 'ENTER', 'CREATE', 'DELETE', 'EDIT', 'ENABLE', 'DISABLE', 'RETRY', 'FORCE', 'NDR', 'CONTINUE']);

const LOGIN_HELP = [
  'USER <name> - logs in (then the password)',
  'GET VERSION - the version: fullversion|os|platform',
  'SET QUIET on|off - titles and rules in LIST and SHOW off or on',
  'SET CONSOLE-CODES on|off - accepted (Postern sends no console codes)',
  'SHOW - the session\'s settings',
  'EXIT|QUIT - closes the connection',
];
const COMMON_HELP = ['HELP - prints this help', 'GET VERSION - the version', 'EXIT|QUIT - closes the connection'];

function help(s: CliSession, f: Frame | undefined): V {
  let lines: readonly string[];
  if (f === undefined) lines = LOGIN_HELP;
  else if (f.kind === 'root') lines = [...STORE_HELP.root!, 'SET QUIET on|off | SET CONSOLE-CODES on|off', ...COMMON_HELP];
  else if (f.kind === 'config') lines = [...(CONFIG_HELP[f.view] ?? []), ...CONFIG_HELP.common!, ...COMMON_HELP];
  else lines = [...(STORE_HELP[f.kind] ?? []), ...COMMON_HELP];
  return ok(s, 'help shown', s.data.quiet ? lines : ['the commands of this context:', ...lines]);
}

function onOff(w: Word | undefined): boolean | undefined {
  const k = keyword(w);
  return k === 'ON' ? true : k === 'OFF' ? false : undefined;
}

/** SET QUIET / SET CONSOLE-CODES (login and root); undefined: another SET. */
function sessionSet(s: CliSession, words: readonly Word[]): V | undefined {
  const what = keyword(words[0]);
  if (what !== 'QUIET' && what !== 'CONSOLE-CODES') return undefined;
  const v = onOff(words[1]);
  if (v === undefined || words.length !== 2) return err(s, `SET ${what} takes on or off`);
  if (what === 'QUIET') s.data.quiet = v;
  else s.data.consoleCodes = v;
  return ok(s, `${what.toLowerCase()} ${v ? 'on' : 'off'}`);
}

/** The verbs every context has; undefined: not one of them. */
function common(s: CliSession, verb: string, words: readonly Word[], f: Frame | undefined): V | undefined {
  switch (verb) {
    case 'HELP': return help(s, f);
    case 'EXIT': case 'QUIT': return stop('+OK: have a nice day\r\n');
    case 'GET':
      if (keyword(words[0]) !== 'VERSION' || words.length !== 1) return err(s, 'GET takes VERSION (GET VERSION)');
      return ok(s, 'version shown', [VERSION_LINE]);
    default: return undefined;
  }
}

async function password(s: CliSession, pw: string): Promise<V> {
  const user = s.data.user ?? '';
  s.data.user = null;
  const store = s.ctx.store;
  const r = await gatedCheck(s.ctx, user, { service: 'cli', abandoned: () => s.data.closed }, async () => {
    const hash = user === ADMIN_USER && store !== null ? await store.adminHash() : null;
    if (user === ADMIN_USER && hash === null) s.ctx.log.warn('cli: admin login refused: no admin password is set (postern ctl admin passwd --password PW)');
    const match = (await s.ctx.runTask('verifyPassword', { password: pw, hash: hash ?? DUMMY_HASH })) === true;
    return match && hash !== null;
  });
  if (r === 'abandoned') return noreply();
  if (r === 'unavailable') return err(s, 'the password cannot be checked now, try again later', null, 'login');
  if (r !== true) return err(s, 'authentication failed', 'auth', 'login');
  s.data.frames = [{ kind: 'root' }];
  s.ctx.log.info({ user, remote: s.ctx.remoteAddress }, 'cli: admin logged in');
  return ok(s, 'authentication successful', [], 'ready');
}

function login(s: CliSession, verb: string, words: readonly Word[]): V {
  const c = common(s, verb, words, undefined);
  if (c !== undefined) return c;
  if (verb === 'USER') {
    if (words.length !== 1) return err(s, 'USER takes one name');
    s.data.user = words[0]!.text;
    return ok(s, 'enter the password', [], 'password');
  }
  if (verb === 'SET') return sessionSet(s, words) ?? err(s, 'only SET QUIET and SET CONSOLE-CODES before login');
  if (verb === 'SHOW') return ok(s, 'settings shown', [`quiet = ${s.data.quiet ? 'on' : 'off'}`, `console-codes = ${s.data.consoleCodes ? 'on' : 'off'}`]);
  return err(s, KNOWN.has(verb) ? `${verb} needs a login first (USER <name>)` : `unknown command ${verb}`);
}

async function ready(s: CliSession, verb: string, words: readonly Word[]): Promise<V> {
  const f = s.data.frames[s.data.frames.length - 1] ?? { kind: 'root' as const };
  const c = common(s, verb, words, f);
  if (c !== undefined) return c;
  let v: V | undefined;
  switch (f.kind) {
    case 'root':
      v = verb === 'SET' ? sessionSet(s, words) ?? err(s, 'SET takes QUIET or CONSOLE-CODES here') : await rootCommand(s, verb, words);
      break;
    case 'config': v = await configCommand(s, f, verb, words); break;
    case 'queue': v = await queueCommand(s, verb, words); break;
    case 'domain-create': v = await domainCreateCommand(s, f, verb, words); break;
    case 'domain': v = await domainCommand(s, f, verb, words); break;
    case 'account': v = await accountCommand(s, f, verb, words); break;
  }
  if (v !== undefined) return v;
  return err(s, KNOWN.has(verb) ? `${verb} is not available in this context (HELP lists its commands)` : `unknown command ${verb}`);
}

function command(line: Buffer, s: CliSession): V | Promise<V> {
  const text = line.toString('utf8');
  if (s.state === 'password') return password(s, text);
  if (s.state === 'login' && ++s.data.preAuthCommands > s.data.opts.maxAuthCommands) {
    return stop('-ERR: too many commands before login, closing the connection\r\n', 'error_limit');
  }
  let words: Word[];
  try {
    words = splitWords(text);
  } catch (e) {
    if (e instanceof CliSyntaxError) return err(s, `syntax error: ${e.message}`);
    throw e;
  }
  if (words.length === 0) return err(s, 'empty command line', null);
  const verb = keyword(words[0]) || words[0]!.text;
  const rest = words.slice(1);
  return s.state === 'login' ? login(s, verb, rest) : ready(s, verb, rest);
}

export function startSession(socket: Socket, ctx: SessionContext): SessionHandle {
  const opts = optionsOf(ctx.service, 'cli');
  const data: CliData = { opts, user: null, preAuthCommands: 0, frames: [], draft: null, quiet: false, consoleCodes: false, closed: false };
  socket.setNoDelay(true);
  socket.once('close', () => {
    data.closed = true;
  });
  let session: CliSession | null = null;
  const at = (): string => (session === null ? '<login> ' : prompt(session));
  const replies: ProtocolReplies = {
    ...REPLIES,
    greeting: () => `+OK: ${opts.greetingsText}\r\n<login> `,
    unknownCommand: (verb) => `-ERR: unknown command ${verb}\r\n${at()}`,
    wrongState: (verb) => `-ERR: ${verb} is not available in this context\r\n${at()}`,
    lineTooLong: (n) => `-ERR: command line too long (at most ${n} bytes)\r\n${at()}`,
    internalError: () => `-ERR: internal error, try again later\r\n${at()}`,
  };
  session = new LineSession<CliState, CliData>({
    socket,
    ctx,
    table: new Map(),
    initialState: 'login',
    replies,
    data,
    maxLineLength: Math.min(ctx.service.session.maxLineLength, opts.maxCommandBytes),
    framer: (n) => new TelnetFramer(n),
    command,
  });
  return session;
}
