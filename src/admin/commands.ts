/**
 * admin/: the admin command registry, ground layer data that every side reads.
 * admin/commands.ts: the one registry of admin commands. Each row names the command (the
 * control verb, e.g. 'domain.add'), the side that runs it ('main': the main thread, over the
 * running server; 'store': the store thread, over the store), its arguments with a schema,
 * how `postern ctl` writes it (its words are the name's parts; positional words and
 * `--password` and the command's `--flag VALUE`s fill arguments), and its one-line human reply. The control socket
 * (control/server.ts: the verbs it accepts), `postern ctl` (cli/ctl.ts: parsing, usage,
 * replies), the main thread's handlers (server.ts, typed by `MainHandlers`) and the store's
 * (store/admin.ts, typed by `StoreHandlers`) all read it; the telnet CLI service and WebAdmin
 * are meant to read it too. A handler table missing a command of its side, or naming one that
 * is not, does not type-check. This module is data and checks only: it imports nothing but
 * errors.ts, so any layer may read it.
 *
 * Exports: `COMMANDS`, `CommandSpec`, `ArgSpec`, `CtlSyntax`, `CtlFlag`, `CommandName`, `MainCommand`,
 * `StoreCommand`, `MainHandlers`, `StoreHandlers<S>`, `command(name)`, `checkArgs(spec, args)`,
 * `runCommand(name, args, sides)`.
 * Throws: CONTROL_BAD_REQUEST (an unknown command, a missing or mistyped argument).
 */
import { PosternError } from '../errors.ts';

export type CommandSide = 'main' | 'store';
type Args = Record<string, unknown>;

/** An argument: `string` a non-empty string; `limit` a number, or null for unlimited; `bool`;
 * `choice` one of `choices`; `uint` a non-negative integer. Only `required` ones must be given. */
export type ArgSpec =
  | { type: 'string'; required: boolean }
  | { type: 'limit'; required: false }
  | { type: 'bool'; required: false }
  | { type: 'choice'; choices: readonly string[]; required: boolean }
  | { type: 'uint'; required: boolean };

/** A positional word of `postern ctl` and the argument it fills: `service`/`domain` a name,
 * `address` USER@DOMAIN, `queueId`, `choice` (of the argument's choices), `index` digits
 * (filled with `default` when absent), `id` digits (a numeric id). */
export interface CtlWord {
  arg: string;
  word: 'service' | 'domain' | 'address' | 'queueId' | 'choice' | 'index' | 'id';
  label: string;
  optional?: boolean;
  default?: number;
}

/** A `--flag VALUE` of `postern ctl` and the argument it fills (optional). */
export interface CtlFlag {
  flag: string;
  arg: string;
  label: string;
}

export interface CtlSyntax {
  words?: readonly CtlWord[];
  /** Optional `--flag VALUE` options (checked by the argument's schema). */
  flags?: readonly CtlFlag[];
  /** `--password PW` fills this argument (`required`: the command needs it). */
  password?: { arg: string; required: boolean };
  /** `key=value` words after the positional ones: key → the argument it fills (converted by
   * the argument's type: uint digits, bool yes|no, choice, string). */
  params?: Readonly<Record<string, string>>;
  /** Usage note, after the synopsis. */
  note?: string;
}

export interface CommandSpec<N extends string = string, S extends CommandSide = CommandSide> {
  readonly name: N;
  readonly side: S;
  readonly args: Readonly<Record<string, ArgSpec>>;
  /** null: not an operator's command (an internal call, e.g. queue.stats for /metrics). */
  readonly ctl: CtlSyntax | null;
  /** The one-line human reply on success (`postern ctl` without --json), when the result is
   * not rendered otherwise. */
  readonly done?: (args: Args) => string;
}

const req = { type: 'string', required: true } as const;
const opt = { type: 'string', required: false } as const;
const limit = { type: 'limit', required: false } as const;
const bool = { type: 'bool', required: false } as const;
const name = (a: Args): string => String(a.name ?? '');
const address = (a: Args): string => String(a.address ?? '');
const id = (a: Args): string => String(a.id ?? '');

function def<N extends string, S extends CommandSide>(n: N, side: S, args: Record<string, ArgSpec>, ctl: CtlSyntax | null, done?: (a: Args) => string): CommandSpec<N, S> {
  return Object.freeze({ name: n, side, args: Object.freeze(args), ctl, ...(done === undefined ? {} : { done }) });
}

const SERVICE: CtlWord = { arg: 'name', word: 'service', label: 'NAME' };
const DOMAIN: CtlWord = { arg: 'name', word: 'domain', label: 'NAME' };
const ADDRESS: CtlWord = { arg: 'address', word: 'address', label: 'USER@DOMAIN' };
const QUEUE_ID: CtlWord = { arg: 'id', word: 'queueId', label: 'ID' };

/** Every admin command, in `postern ctl --help` order. */
export const COMMANDS = Object.freeze([
  def('status', 'main', {}, {}),
  def('reload', 'main', {}, {}, () => 'configuration reloaded'),
  def('stop', 'main', {}, {}, () => 'server stopping'),
  def('service.start', 'main', { name: req }, { words: [SERVICE] }, (a) => `service ${name(a)} started`),
  def('service.stop', 'main', { name: req }, { words: [SERVICE] }, (a) => `service ${name(a)} stopped`),
  def('service.restart', 'main', { name: req }, { words: [SERVICE] }, (a) => `service ${name(a)} restarted`),
  def('domain.add', 'store', { name: req, postmasterPassword: opt }, { words: [DOMAIN], password: { arg: 'postmasterPassword', required: false }, note: 'creates postmaster@NAME: PW, else a random password shown once' }, (a) => `domain ${name(a)} added`),
  def('domain.list', 'store', {}, {}),
  def('domain.remove', 'store', { name: req }, { words: [DOMAIN] }, (a) => `domain ${name(a)} removed`),
  def('domain.dkim', 'store', { name: req, selector: opt, algorithm: { type: 'choice', choices: ['rsa', 'ed25519'], required: false } }, {
    words: [DOMAIN], flags: [{ flag: 'selector', arg: 'selector', label: 'S' }, { flag: 'algorithm', arg: 'algorithm', label: 'rsa|ed25519' }],
    note: 'a new DKIM key (replacing any); prints the TXT record to publish',
  }),
  def('account.add', 'store', { address: req, password: req, quotaBytes: limit, quotaMessages: limit, cramMd5: bool }, { words: [ADDRESS], password: { arg: 'password', required: true } }, (a) => `account ${address(a)} added`),
  def('account.list', 'store', { domain: opt }, { words: [{ arg: 'domain', word: 'domain', label: 'DOMAIN', optional: true }] }),
  def('account.passwd', 'store', { address: req, password: req }, { words: [ADDRESS], password: { arg: 'password', required: true } }, (a) => `password changed for ${address(a)}`),
  def('account.remove', 'store', { address: req }, { words: [ADDRESS] }, (a) => `account ${address(a)} removed`),
  def('account.rpop.add', 'store', {
    address: req, host: req, port: { type: 'uint', required: true }, username: req, password: req,
    tls: { type: 'choice', choices: ['none', 'implicit', 'stls'], required: false }, folder: opt, interval: { type: 'uint', required: false }, keep: bool, enabled: bool,
  }, {
    words: [ADDRESS],
    params: { host: 'host', port: 'port', user: 'username', password: 'password', tls: 'tls', folder: 'folder', interval: 'interval', keep: 'keep', enabled: 'enabled' },
    note: 'host= port= user= password= [tls=none|implicit|stls] [folder=INBOX] [interval=600] [keep=yes|no] [enabled=yes|no]',
  }, (a) => `rpop connection added to ${address(a)}`),
  def('account.rpop.list', 'store', { address: req }, { words: [ADDRESS] }),
  def('account.rpop.remove', 'store', { address: req, id: { type: 'uint', required: true } }, { words: [ADDRESS, { arg: 'id', word: 'id', label: 'ID' }] }, (a) => `rpop connection ${id(a)} removed from ${address(a)}`),
  def('admin.passwd', 'store', { password: req }, { password: { arg: 'password', required: true }, note: 'the server admin: the ftpBackup login' }, () => 'admin password changed'),
  def('queue.list', 'store', {}, {}),
  def('queue.show', 'store', { id: req }, { words: [QUEUE_ID] }),
  def('queue.retry', 'store', { id: req }, { words: [QUEUE_ID] }, (a) => `message ${id(a)} is due now`),
  def('queue.delete', 'store', { id: req }, { words: [QUEUE_ID] }, (a) => `message ${id(a)} deleted from the queue`),
  def('queue.stats', 'store', {}, null),
  def('store.compact', 'store', {}, {}),
  def('dnr.query', 'main', { type: { type: 'choice', choices: ['A', 'AAAA', 'MX', 'TXT', 'PTR'], required: true }, name: req }, {
    words: [{ arg: 'type', word: 'choice', label: 'A|AAAA|MX|TXT|PTR' }, { arg: 'name', word: 'domain', label: 'NAME' }],
    note: 'through the server\'s resolver (PTR: NAME is an IP)',
  }),
  def('dnr.flush', 'main', {}, { note: 'empties the resolver caches of every thread' }, () => 'resolver caches flushed'),
  def('userdb.lookup', 'main', { address: req, map: opt }, {
    words: [ADDRESS], flags: [{ flag: 'map', arg: 'map', label: 'NAME' }],
    note: 'what a user map answers for ADDRESS (default: the first of Server userMaps)',
  }),
  def('userdb.flush', 'main', {}, { note: 'empties the LDAP connectors\' caches in every thread' }, () => 'user database caches flushed'),
  def('config.get', 'main', {}, null),
  def('config.set', 'main', { text: req }, null),
  def('config.save', 'main', { path: opt }, { flags: [{ flag: 'path', arg: 'path', label: 'FILE' }], note: 'writes the running configuration (default: the file the server started from, else <dataDir>/postern.conf)' }),
  def('fault', 'main', { name: req, kind: { type: 'choice', choices: ['crash', 'oom', 'hang'], required: false }, index: { type: 'uint', required: false } }, {
    words: [{ ...SERVICE, label: 'SERVICE' }, { arg: 'kind', word: 'choice', label: 'crash|oom|hang' }, { arg: 'index', word: 'index', label: 'THREAD', optional: true, default: 0 }],
    note: 'only with enableFaultInjection = yes',
  }),
] as const);

export type CommandName = (typeof COMMANDS)[number]['name'];
export type MainCommand = Extract<(typeof COMMANDS)[number], { side: 'main' }>['name'];
export type StoreCommand = Extract<(typeof COMMANDS)[number], { side: 'store' }>['name'];
/** The main thread's handlers: exactly one per 'main' command. */
export type MainHandlers = { readonly [K in MainCommand]: (args: Args) => Promise<unknown> };
/** The store's handlers: exactly one per 'store' command. */
export type StoreHandlers<S> = { readonly [K in StoreCommand]: (store: S, args: Args) => Promise<unknown> };

const byName: ReadonlyMap<string, CommandSpec> = new Map(COMMANDS.map((c) => [c.name, c]));

/** The command of that name, or undefined. */
export function command(n: string): CommandSpec | undefined {
  return byName.get(n);
}

function bad(message: string, key: string): PosternError {
  return new PosternError('CONTROL_BAD_REQUEST', message, { argument: key });
}

/** Check `args` against the command's argument schema (arguments it does not name are left
 * alone). Throws CONTROL_BAD_REQUEST naming the first bad argument. */
export function checkArgs(spec: CommandSpec, args: Args): void {
  if (args === null || typeof args !== 'object' || Array.isArray(args)) throw new PosternError('CONTROL_BAD_REQUEST', 'args must be an object');
  for (const [key, a] of Object.entries(spec.args)) {
    const v = args[key];
    if (v === undefined && !a.required) continue;
    switch (a.type) {
      case 'string':
        if (typeof v !== 'string' || v.length === 0) throw bad(`missing argument "${key}"`, key);
        break;
      case 'limit':
        if (v !== null && typeof v !== 'number') throw bad(`argument "${key}" must be a number or null (unlimited)`, key);
        break;
      case 'bool':
        if (typeof v !== 'boolean') throw bad(`argument "${key}" must be true or false`, key);
        break;
      case 'choice':
        if (typeof v !== 'string' || !a.choices.includes(v)) throw bad(`argument "${key}" must be one of ${a.choices.join(', ')}`, key);
        break;
      case 'uint':
        if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw bad(`argument "${key}" must be a non-negative integer`, key);
        break;
    }
  }
}

/** Run a command: look it up, check its arguments for the main side (the store checks its own,
 * store/admin.ts, as it is also called directly), and hand it to its side. */
export async function runCommand(n: string, args: Args, sides: { main: MainHandlers; store: (name: StoreCommand, args: Args) => Promise<unknown> }): Promise<unknown> {
  const spec = command(n);
  if (spec === undefined) throw new PosternError('CONTROL_BAD_REQUEST', `unknown verb "${n}"`);
  if (spec.side === 'store') return sides.store(spec.name as StoreCommand, args);
  checkArgs(spec, args);
  return sides.main[spec.name as MainCommand](args);
}
