/**
 * cli/ctl.ts: `postern ctl [--data-dir DIR] [--json] VERB …`, the control-socket client command.
 * Its commands, their words, arguments, usage lines and one-line replies come from the command
 * registry (admin/commands.ts); this file parses, checks the words' forms and renders.
 * `postern ctl --help` lists them (`CTL_USAGE`, built from the registry).
 *
 * The socket is `<dataDir>/run/postern.sock`; dataDir is --data-dir, else $POSTERN_DATA_DIR,
 * else `./data`, resolved to an absolute path.
 *
 * Exports:
 * - `runCtl(argv, io?)`: argv is what follows `ctl` on the command line; returns the exit code:
 *   0 success, 1 server-side or unavailable error, 2 usage error. A failure prints exactly one
 *   line `postern ctl: <reason>` to `io.err`; with --json it prints
 *   `{"ok":false,"error":{"code","message"}}` to `io.out` instead. Success prints
 *   `{"ok":true,"result":…}` with --json, else a human-readable rendering. Each `io` call is one
 *   line without its newline (default: process stdout/stderr).
 * - `parseCtlArgs(argv, env?)`: the parsing step alone (→ socket path, verb, args, json).
 * - `renderStatus(doc)`: the human status tree as lines.
 * - `CTL_USAGE`: the help text, one line per command of the registry.
 * - `CtlIo`, `CtlCommand` (types).
 *
 * Throws nothing: every failure becomes an exit code (parseCtlArgs throws CONTROL_BAD_REQUEST).
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { controlRequest } from '../control/client.ts';
import { COMMANDS, command, type CommandSpec, type CtlSyntax, type CtlWord } from '../admin/commands.ts';
import { PosternError, errorToData } from '../errors.ts';
import type { ActorInfo } from '../actor/types.ts';
import type { ServiceStatus, StatusDoc } from '../status/types.ts';

export interface CtlIo {
  out(line: string): void;
  err(line: string): void;
}

export interface CtlCommand {
  socketPath: string;
  json: boolean;
  help: boolean;
  verb: string; // control verb, e.g. 'service.restart'
  args: Record<string, unknown>;
}

/** The operators' commands of the registry, each with its words ('domain.add' → domain add). */
const CTL_COMMANDS = COMMANDS.filter((c): c is typeof c & { ctl: CtlSyntax } => c.ctl !== null);
const wordsOf = (c: CommandSpec): string[] => c.name.split('.');

function synopsis(c: CommandSpec & { ctl: CtlSyntax }): string {
  const parts = [...wordsOf(c), ...(c.ctl.words ?? []).map((w) => (w.optional === true ? `[${w.label}]` : w.label))];
  if (c.ctl.params !== undefined) parts.push('KEY=VALUE…');
  if (c.ctl.password !== undefined) parts.push(c.ctl.password.required ? '--password PW' : '[--password PW]');
  for (const f of c.ctl.flags ?? []) parts.push(`[--${f.flag} ${f.label}]`);
  return parts.join(' ');
}

/** Every command's `--flag VALUE` options (CtlSyntax.flags), for parseArgs. */
const CTL_FLAGS: Record<string, { type: 'string' }> = Object.fromEntries(CTL_COMMANDS.flatMap((c) => (c.ctl.flags ?? []).map((f) => [f.flag, { type: 'string' as const }])));

/** `postern ctl --help`, one line per command of the registry. */
export const CTL_USAGE = [
  'usage: postern ctl [--data-dir DIR] [--json] COMMAND',
  ...CTL_COMMANDS.map((c) => {
    const line = `  ${synopsis(c)}`;
    return c.ctl.note === undefined ? line : `${line.padEnd(40)}(${c.ctl.note})`;
  }),
].join('\n');

const defaultIo: CtlIo = {
  out: (s) => { process.stdout.write(`${s}\n`); },
  err: (s) => { process.stderr.write(`${s}\n`); },
};

function usage(message: string): PosternError {
  return new PosternError('CONTROL_BAD_REQUEST', message, { usage: true });
}

function checkAddress(a: string): string {
  const at = a.indexOf('@');
  if (at <= 0 || at !== a.lastIndexOf('@') || at === a.length - 1 || /\s/.test(a)) {
    throw usage(`'${a}' is not an address of the form USER@DOMAIN`);
  }
  return a;
}

function checkName(what: string, n: string | undefined): string {
  if (n === undefined || n === '') throw usage(`missing ${what} name`);
  if (/\s/.test(n)) throw usage(`bad ${what} name '${n}'`);
  return n;
}

/** "a, b or c" */
function orList(xs: readonly string[]): string {
  return xs.length <= 1 ? (xs[0] ?? '') : `${xs.slice(0, -1).join(', ')} or ${xs.at(-1)!}`;
}

/** One positional word of a command → its argument's value (usage error if it does not fit). */
function wordValue(c: CommandSpec, w: CtlWord, v: string | undefined): string | number | undefined {
  const cmd = wordsOf(c).join(' ');
  if (v === undefined && w.optional === true) return w.default;
  switch (w.word) {
    case 'service': case 'domain':
      return checkName(w.word, v);
    case 'address':
      if (v === undefined) throw usage(`${cmd}: missing USER@DOMAIN`);
      return checkAddress(v);
    case 'queueId':
      if (v === undefined || !/^[A-Za-z0-9]{1,32}$/.test(v)) throw usage(`${cmd}: expected a queue ID, got '${v ?? ''}'`);
      return v;
    case 'choice': {
      const spec = c.args[w.arg];
      const choices = spec?.type === 'choice' ? spec.choices : [];
      if (v === undefined || !choices.includes(v)) throw usage(`${cmd}: expected ${orList(choices)}, got '${v ?? ''}'`);
      return v;
    }
    case 'index':
      if (v === undefined || !/^\d+$/.test(v)) throw usage(`${cmd}: bad thread index '${v ?? ''}'`);
      return Number(v);
    case 'id':
      if (v === undefined || !/^\d{1,15}$/.test(v)) throw usage(`${cmd}: expected ${w.label} (digits), got '${v ?? ''}'`);
      return Number(v);
  }
}

/** `key=value` words → arguments, converted by each argument's type. */
function paramValues(c: CommandSpec, params: Readonly<Record<string, string>>, words: string[], args: Record<string, unknown>): void {
  const cmd = wordsOf(c).join(' ');
  for (const w of words) {
    const eq = w.indexOf('=');
    const key = eq > 0 ? w.slice(0, eq).toLowerCase() : '';
    const arg = Object.hasOwn(params, key) ? params[key]! : undefined;
    if (arg === undefined) throw usage(`${cmd}: unexpected argument '${eq > 0 ? w.slice(0, eq) : w}' (expected ${Object.keys(params).map((k) => `${k}=`).join(' ')})`);
    const v = w.slice(eq + 1);
    const spec = c.args[arg];
    if (spec?.type === 'uint') {
      if (!/^\d{1,15}$/.test(v)) throw usage(`${cmd}: ${key}= must be digits`);
      args[arg] = Number(v);
    } else if (spec?.type === 'bool') {
      if (!/^(yes|no|true|false)$/i.test(v)) throw usage(`${cmd}: ${key}= must be yes or no`);
      args[arg] = /^(yes|true)$/i.test(v);
    } else if (spec?.type === 'choice') {
      if (!spec.choices.includes(v)) throw usage(`${cmd}: ${key}= must be ${orList(spec.choices)}`);
      args[arg] = v;
    } else {
      if (v === '') throw usage(`${cmd}: ${key}= must not be empty`);
      args[arg] = v;
    }
  }
}

/** positional words → control verb and args, by the registry's `ctl` syntax. */
function mapCommand(words: string[], password: string | undefined, flags: Record<string, string | undefined> = {}): { verb: string; args: Record<string, unknown> } {
  const [group, sub] = words;
  if (group === undefined) throw usage('missing command');
  const inGroup = CTL_COMMANDS.filter((c) => wordsOf(c)[0] === group);
  if (inGroup.length === 0) throw usage(`unknown command '${group}'`);
  // the longest command name that the words begin with (account rpop add before account add)
  const c = inGroup.filter((x) => wordsOf(x).every((w, i) => i === 0 || words[i] === w) || wordsOf(x).length === 1).sort((a, b) => wordsOf(b).length - wordsOf(a).length)[0];
  if (c === undefined) throw usage(`${group}: expected ${orList([...new Set(inGroup.map((x) => wordsOf(x)[1] ?? ''))])}, got '${sub ?? ''}'`);
  const n = wordsOf(c).length;
  const spec = c.ctl.words ?? [];
  const extra = words.slice(n + spec.length);
  if (extra.length > 0 && c.ctl.params === undefined) throw usage(`unexpected argument '${extra[0]!}'`);
  const pw = c.ctl.password;
  if (password !== undefined && pw === undefined) {
    throw usage(`--password is only for ${orList(CTL_COMMANDS.filter((x) => x.ctl.password !== undefined).map((x) => wordsOf(x).join(' ')))}`);
  }
  if (password === '' && pw?.required === false) throw usage('--password must not be empty');
  const args: Record<string, unknown> = {};
  spec.forEach((w, i) => {
    const v = wordValue(c, w, words[n + i]);
    if (v !== undefined) args[w.arg] = v;
  });
  if (c.ctl.params !== undefined) paramValues(c, c.ctl.params, extra, args);
  if (pw !== undefined) {
    if (pw.required && (password === undefined || password === '')) throw usage('--password PW is required');
    if (password !== undefined) args[pw.arg] = password;
  }
  for (const [flag, v] of Object.entries(flags)) {
    if (v === undefined) continue;
    const f = c.ctl.flags?.find((x) => x.flag === flag);
    if (f === undefined) throw usage(`--${flag} is not an option of ${wordsOf(c).join(' ')}`);
    args[f.arg] = v;
  }
  return { verb: c.name, args };
}

export function parseCtlArgs(argv: string[], env: Record<string, string | undefined> = process.env): CtlCommand {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        'data-dir': { type: 'string' },
        json: { type: 'boolean', default: false },
        password: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
        ...CTL_FLAGS,
      },
    });
  } catch (e) {
    throw usage((e as Error).message.split('\n')[0] ?? 'bad arguments');
  }
  const { values, positionals } = parsed;
  const dataDir = resolve(values['data-dir'] ?? env.POSTERN_DATA_DIR ?? './data');
  const socketPath = resolve(dataDir, 'run', 'postern.sock');
  const json = values.json === true;
  if (values.help === true) return { socketPath, json, help: true, verb: '', args: {} };
  const flags = Object.fromEntries(Object.keys(CTL_FLAGS).map((f) => [f, (values as Record<string, unknown>)[f] as string | undefined]));
  const { verb, args } = mapCommand(positionals, values.password, flags);
  return { socketPath, json, help: false, verb, args };
}

// ---- rendering ----

function num(n: number | null | undefined): string {
  return n === null || n === undefined || !Number.isFinite(n) ? '∞' : String(n);
}

function duration(sec: number): string {
  let s = Math.max(0, Math.floor(sec));
  const d = Math.floor(s / 86400); s -= d * 86400;
  const h = Math.floor(s / 3600); s -= h * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  if (d > 0) return `${d}d${h}h${m}m`;
  if (h > 0) return `${h}h${m}m${s}s`;
  if (m > 0) return `${m}m${s}s`;
  return `${s}s`;
}

function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, ' ').trim();
}

function actorLines(a: ActorInfo, depth: number, out: string[]): void {
  let line = `${'  '.repeat(depth)}${a.id}  ${a.kind}  ${a.state}  mailbox ${num(a.mailboxDepth)}/${num(a.mailboxCapacity)}  restarts ${num(a.restarts)}`;
  if (a.lastError !== undefined) line += `  last error ${a.lastError.code}: ${oneLine(a.lastError.message)}`;
  out.push(line);
  for (const c of a.children ?? []) actorLines(c, depth + 1, out);
}

function serviceLine(s: ServiceStatus): string {
  const ls = s.listeners.length === 0
    ? 'none'
    : s.listeners.map((l) => {
      const st = !l.enable ? 'disabled' : l.listening ? 'listening' : 'not listening';
      return `${l.key}/${l.transport} ${st} open ${num(l.open)}`;
    }).join(', ');
  const ct = s.connThreads;
  let line = `  ${s.name}  ${s.state}${s.implemented ? '' : ' (not implemented)'}  listeners: ${ls}` +
    `  open connections ${num(s.openConnections)}  conn threads ${num(ct.current)} (${num(ct.min)}..${num(ct.max)})` +
    `  pool ${num(s.pool.threads)} threads ${num(s.pool.queued)} queued`;
  if (s.lastError !== undefined) line += `  last error ${s.lastError.code}: ${oneLine(s.lastError.message)}`;
  return line;
}

/** The human status rendering, one string per line. */
export function renderStatus(doc: StatusDoc): string[] {
  const out: string[] = [];
  const sv = doc.server;
  out.push(`postern ${sv.version}  pid ${sv.pid}  up ${duration(sv.uptimeSec)}  node ${sv.node}  data ${sv.dataDir}`);
  out.push('actors:');
  actorLines(doc.tree, 1, out);
  out.push('services:');
  if (doc.services.length === 0) out.push('  (none)');
  for (const s of doc.services) out.push(serviceLine(s));
  return out;
}

/** `account rpop list`: one line per connection (the password as the store shows it: ***). */
function renderRpop(rows: Array<Record<string, unknown>>): string[] {
  if (rows.length === 0) return ['(none)'];
  return rows.map((r) => {
    const st = (r.state ?? {}) as Record<string, unknown>;
    const err = st.lastError as { code?: string; message?: string } | null | undefined;
    return `${String(r.id)}  ${String(r.username)}@${String(r.host)}:${String(r.port)} tls=${String(r.tls)} password=${String(r.password)} folder=${String(r.folder)} interval=${String(r.interval)} keep=${r.leaveOnServer === true ? 'yes' : 'no'}` +
      `${r.enabled === false ? ' disabled' : ''}  fetched ${String(st.fetched ?? 0)} deleted ${String(st.deleted ?? 0)} failures ${String(st.failures ?? 0)}` +
      `${err !== null && err !== undefined ? `  last error ${String(err.code)}: ${oneLine(String(err.message))}` : ''}`;
  });
}

function listItem(v: unknown): string {
  if (typeof v === 'string') return v;
  if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
    const r = v as Record<string, unknown>;
    const keyField = ['address', 'name', 'domain'].find((k) => typeof r[k] === 'string');
    if (keyField !== undefined) {
      const rest = Object.entries(r).filter(([k]) => k !== keyField);
      const extra = rest.map(([k, x]) => ` ${k}=${typeof x === 'string' ? x : JSON.stringify(x)}`).join('');
      return `${String(r[keyField])}${extra}`;
    }
  }
  return JSON.stringify(v);
}

/** `queue list`: one line per queued message. */
function renderQueue(items: Array<Record<string, unknown>>): string[] {
  if (items.length === 0) return ['(queue empty)'];
  return items.map((q) => {
    let line = `${String(q.id)}  ${String(q.size)} bytes  from ${String(q.from)}  ${String(q.rcpts)} rcpt  ${String(q.status)}  attempts ${String(q.attempts)}`;
    if (q.nextAttempt !== null && q.nextAttempt !== undefined) line += `  next ${String(q.nextAttempt)}`;
    if (q.lastError !== null && q.lastError !== undefined) line += `  last error: ${oneLine(String(q.lastError))}`;
    return line;
  });
}

/** `queue show ID`: the entry, its recipients, its headers. */
function renderQueueEntry(q: Record<string, unknown>): string[] {
  const out: string[] = [];
  for (const k of ['id', 'status', 'from', 'size', 'receivedAt', 'attempts', 'nextAttempt', 'lastError', 'delayNotices']) out.push(`${k}: ${q[k] === null || q[k] === undefined ? '-' : oneLine(String(q[k]))}`);
  const env = (q.envelope ?? {}) as Record<string, unknown>;
  out.push(`client: ${String(env.helo ?? '')} [${String(env.ip ?? '')}] with ${String(env.with ?? '')}${env.tls ? ` (${String(env.tls)})` : ''}${env.auth ? ` auth ${String(env.auth)}` : ''}`);
  out.push('recipients:');
  for (const r of (q.recipients ?? []) as Array<Record<string, unknown>>) out.push(`  ${String(r.to)}  ${String(r.status)}${r.bounced === true ? '  (bounced)' : ''}${r.detail ? `  ${oneLine(String(r.detail))}` : ''}`);
  out.push('headers:');
  for (const h of (q.headers ?? []) as string[]) out.push(`  ${h}`);
  return out;
}

/** `report query`: a header, then per series its total (a gauge: its last value); with one
 * counter, also each step that has a sample. */
function renderReport(r: { scope: string; from: number; to: number; stepSec: number; samples: number; series: Array<{ counter: string; kind: string; points: Array<[number, number | null]> }> }): string[] {
  const iso = (t: number): string => new Date(t).toISOString();
  const out = [`scope ${r.scope}, ${iso(r.from)} to ${iso(r.to)}, step ${r.stepSec} s, ${r.samples} samples`];
  for (const s of r.series) {
    const vals = s.points.filter(([, v]) => v !== null) as Array<[number, number]>;
    const v = s.kind === 'gauge' ? (vals.length === 0 ? '-' : String(vals[vals.length - 1]![1])) : String(vals.reduce((a, [, x]) => a + x, 0));
    out.push(`${s.counter.padEnd(44)} ${v}`);
  }
  if (r.series.length === 1) for (const [t, v] of r.series[0]!.points) if (v !== null) out.push(`  ${iso(t)}  ${v}`);
  return out;
}

function render(cmd: CtlCommand, result: unknown): string[] {
  const name = String(cmd.args.name ?? cmd.args.address ?? '');
  if (cmd.verb === 'status') {
    const d = result as StatusDoc | null;
    if (d !== null && typeof d === 'object' && d.tree !== undefined && Array.isArray(d.services)) return renderStatus(d);
    return [JSON.stringify(result)];
  }
  if (cmd.verb === 'account.rpop.list' && Array.isArray(result)) return renderRpop(result as Array<Record<string, unknown>>);
  if (cmd.verb === 'domain.list' || cmd.verb === 'account.list') {
    if (!Array.isArray(result)) return [typeof result === 'string' ? result : JSON.stringify(result)];
    return result.length === 0 ? ['(none)'] : result.map(listItem);
  }
  if (cmd.verb === 'dnr.query' && Array.isArray(result)) return result.length === 0 ? ['(no records)'] : result.map(String);
  if (cmd.verb === 'report.query' && result !== null && typeof result === 'object') return renderReport(result as Parameters<typeof renderReport>[0]);
  if (cmd.verb === 'report.sample' && result !== null && typeof result === 'object') {
    const r = result as { t: number; counters: Record<string, number> };
    return [`sample taken at ${new Date(r.t).toISOString()}: ${Object.entries(r.counters).map(([k, v]) => `${k}=${v}`).join(' ') || '(no events)'}`];
  }
  if (cmd.verb === 'queue.list' && Array.isArray(result)) return renderQueue(result as Array<Record<string, unknown>>);
  if (cmd.verb === 'log.tail' && Array.isArray(result)) return result.length === 0 ? ['(no records)'] : result.map((r: Record<string, unknown>) => oneLine(`${new Date(Number(r.time)).toISOString()} ${String(r.level)} ${String(r.hostname)} ${String(r.module)}: ${String(r.msg)}`));
  if (cmd.verb === 'queue.show' && result !== null && typeof result === 'object') return renderQueueEntry(result as Record<string, unknown>);
  if (typeof result === 'string' && result !== '') return [oneLine(result)];
  if (cmd.verb === 'domain.dkim' && result !== null && typeof result === 'object') {
    const r = result as { domain?: unknown; selector?: unknown; algorithm?: unknown; record?: unknown };
    return [`DKIM key for ${String(r.domain)} (selector ${String(r.selector)}, ${String(r.algorithm)}); publish this record:`, String(r.record)];
  }
  if (cmd.verb === 'domain.add' && result !== null && typeof result === 'object') {
    const r = result as { postmaster?: unknown; postmasterPassword?: unknown };
    const pm = String(r.postmaster ?? `postmaster@${name}`);
    if (typeof r.postmasterPassword !== 'string') return [`domain ${name} added, with ${pm}`];
    return [`domain ${name} added, with ${pm}`, `${pm} password: ${r.postmasterPassword}  (shown only now; change it with: postern ctl account passwd ${pm} --password PW)`];
  }
  return [command(cmd.verb)?.done?.(cmd.args) ?? 'ok'];
}

function fail(io: CtlIo, json: boolean, e: unknown): number {
  const d = errorToData(e);
  const isUsage = e instanceof PosternError && e.details?.usage === true;
  if (json) io.out(JSON.stringify({ ok: false, error: { code: d.code, message: d.message } }));
  else io.err(`postern ctl: ${oneLine(d.message)}${isUsage ? ' (see postern ctl --help)' : ` [${d.code}]`}`);
  return isUsage ? 2 : 1;
}

export async function runCtl(argv: string[], io: CtlIo = defaultIo): Promise<number> {
  let cmd: CtlCommand;
  try {
    cmd = parseCtlArgs(argv);
  } catch (e) {
    return fail(io, argv.includes('--json'), e);
  }
  if (cmd.help) {
    for (const l of CTL_USAGE.split('\n')) io.out(l);
    return 0;
  }
  let result: unknown;
  try {
    result = await controlRequest(cmd.socketPath, cmd.verb, cmd.args);
  } catch (e) {
    return fail(io, cmd.json, e);
  }
  if (cmd.json) io.out(JSON.stringify({ ok: true, result: result ?? null }));
  else for (const l of render(cmd, result)) io.out(l);
  return 0;
}
