/**
 * protocols/cli/session.ts: what one CLI session holds and how it answers (seed CLI,
 * inventory §17).
 *
 * Every answer is: the command's output lines (LIST, SHOW, HELP …), then ONE status line
 * `+OK: text` or `-ERR: text`, then the prompt of the context the session is now in: `<login> `,
 * `<password> `, `<#> ` (root), `<server#> `, `<server-pop3#> `, `<server-pop3-listener#> `,
 * `<domain#> `, `<domain-account#> `, `<queue#> ` … (the context names joined by `-`), so the
 * seed clients' regex `((\+OK)|(-ERR)):.*\r\n<([A-Za-z0-9\-]*#?)> ` matches every answer, and
 * their parsers (output lines first, the status line last before the prompt) read it. The
 * answers that close the session (EXIT, too many errors, idle timeout, shutdown) end with the
 * status line: no prompt follows, the connection closes.
 *
 * Contexts are a stack of frames (`Frame`); the session's `draft` is its edited copy of the
 * config model (config/edit.ts), taken from `config.get` on CONFIG SERVER, applied with
 * `config.set` on COMMIT.
 *
 * Exports: `CliState`, `Frame`, `ConfigView`, `CliData`, `CliSession`, `ok`, `err`, `prompt`,
 * `table`, `REPLIES`, `VERSION_LINE`.
 * Throws nothing.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import type { ConfigModel, ModelObject } from '../../config/model.ts';
import type { EditPath } from '../../config/edit.ts';
import type { CliOptions } from '../../config/options.ts';
import { reply, type LineSession, type ProtocolReplies, type Verdict } from '../../session/line-session.ts';

/** login: waiting for USER; password: the next line is the password; ready: logged in. */
export type CliState = 'login' | 'password' | 'ready';

/** How a config frame shows its object: `service` a service block, `access` the service's
 * AccessControl (its rules and flow limits only), `object` any other object (a listener, a
 * rule, sslControl, dnr …), `server` the Server itself. */
export type ConfigView = 'server' | 'service' | 'access' | 'object';

export type Frame =
  | { readonly kind: 'root' }
  | {
      readonly kind: 'config';
      readonly name: string; // its part of the prompt
      readonly view: ConfigView;
      readonly path: EditPath;
      /** The service whose block this is or is inside (START/STOP Service, RESET). */
      readonly service: string | null;
      /** The draft when the frame was entered: BACK puts it back. */
      saved: ConfigModel;
    }
  | { readonly kind: 'queue' }
  | { readonly kind: 'domain-create'; attrs: Record<string, string> }
  | { readonly kind: 'domain'; readonly domain: string }
  | {
      readonly kind: 'account';
      readonly domain: string;
      readonly name: string;
      /** ADD Account: created at COMMIT; else it exists (UPDATE Account). */
      readonly isNew: boolean;
      attrs: Record<string, string>;
    };

export interface CliData {
  readonly opts: CliOptions;
  /** The name given by USER, waiting for the password. */
  user: string | null;
  /** Commands before login (maxAuthCommands). */
  preAuthCommands: number;
  frames: Frame[];
  /** The edited copy of the config model (null: not in the server's contexts). */
  draft: ConfigModel | null;
  quiet: boolean;
  consoleCodes: boolean;
  closed: boolean;
}

export type CliSession = LineSession<CliState, CliData>;

const frameName = (f: Frame): string => {
  switch (f.kind) {
    case 'root': return '';
    case 'config': return f.name;
    case 'queue': return 'queue';
    case 'domain-create': return 'domain-create';
    case 'domain': return 'domain';
    case 'account': return 'account';
  }
};

/** The prompt of the session's current context, with its trailing space. */
export function prompt(s: CliSession): string {
  if (s.state === 'login') return '<login> ';
  if (s.state === 'password') return '<password> ';
  return `<${s.data.frames.map(frameName).filter((n) => n !== '').join('-')}#> `;
}

function oneLine(text: string): string {
  return text.replace(/[\r\n]+/g, ' ');
}

function body(lines: readonly string[]): string {
  return lines.length === 0 ? '' : `${lines.map(oneLine).join('\r\n')}\r\n`;
}

/** +OK: the output lines, the status line, the (new) context's prompt. */
export function ok(s: CliSession, text: string, lines: readonly string[] = [], state?: CliState): Verdict<CliState> {
  if (state !== undefined) s.state = state;
  return reply(`${body(lines)}+OK: ${oneLine(text)}\r\n${prompt(s)}`);
}

/** -ERR: counted as a wrong command (maxErrors) unless `error` says otherwise. */
export function err(s: CliSession, text: string, error: 'command' | 'auth' | null = 'command', state?: CliState): Verdict<CliState> {
  if (state !== undefined) s.state = state;
  const text2 = `-ERR: ${oneLine(text)}\r\n${prompt(s)}`;
  return error === null ? reply<CliState>(text2) : reply<CliState>(text2, { error });
}

/** A table: a title, its rule, the column headings, a rule, a blank line, the rows, a closing
 * rule (the seed's LIST layout: clients skip five lines, read the rows, stop three lines before
 * the end: the closing rule, the status line, the prompt). Quiet: the rows alone. */
export function table(s: CliSession, title: string, headings: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const widths = headings.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const fmt = (r: readonly string[]): string => (r.length === 1 ? r[0]! : r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join(' | '));
  const lines = rows.map(fmt);
  if (s.data.quiet) return lines;
  const rule = '-'.repeat(Math.max(title.length, fmt(headings).length, 8));
  return [title, rule, fmt(headings), rule, '', ...lines, rule];
}

/** The dispatcher's own words; each closing one ends the session (no prompt). */
export const REPLIES: Omit<ProtocolReplies, 'greeting' | 'unknownCommand' | 'wrongState' | 'lineTooLong' | 'internalError'> = Object.freeze({
  tooManyErrors: () => '-ERR: too many errors, closing the connection\r\n',
  tooManyAuthErrors: () => '-ERR: too many failed authentications, closing the connection\r\n',
  idleTimeout: () => '-ERR: idle timeout, closing the connection\r\n',
  shutdown: () => '-ERR: server shutting down, closing the connection\r\n',
});

function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
}

/** GET VERSION's line, as the seed gives it: `fullversion|os|platform`. */
export const VERSION_LINE = `${packageVersion()} (Postern)|${os.type()}|${process.arch}`;

/** A model object's key value for messages. */
export const keyOf = (o: ModelObject | undefined, key: string): string => String(o?.[key] ?? '');
