/**
 * protocols/imap/general.ts: the IMAP commands of any state, and the session-wide ones of the
 * authenticated states: CAPABILITY (the list for the state and connection: options.ts), NOOP
 * (the dispatcher writes the selected mailbox's updates before every tagged reply), LOGOUT
 * (`* BYE`, then the tagged OK, then close), ID (RFC 2971: the server's name when
 * imapIdEnabled, else `* ID NIL`), ENABLE (RFC 5161: CONDSTORE, QRESYNC
 * (which enables CONDSTORE too), IMAP4rev2, UTF8=ACCEPT; `* ENABLED` lists those this command
 * turned on; accepted in the selected state too, as RFC 5161 §3.1 lets a server, and as Dovecot
 * does), NAMESPACE (RFC 2342: one personal namespace, "" with "/"), COMPRESS (RFC 4978
 * DEFLATE, authenticated or selected: after the tagged OK both directions go through raw
 * DEFLATE; a second one is `NO [COMPRESSIONACTIVE]`).
 *
 * Exports: `GENERAL_ROWS`. Throws nothing.
 */
import { tlsConfigured } from '../../net/tls.ts';
import { deflateWrap } from '../../session/compress.ts';
import { stop, upgrade } from '../../session/line-session.ts';
import { imapOptions, postLoginCapabilities, preLoginCapabilities } from './options.ts';
import { bad, no, ok, type Cmd, type V } from './replies.ts';
import type { Command, Enabled, ImapRow, ImapSession, ImapState } from './types.ts';

const ANY: readonly ImapState[] = Object.freeze(['notAuthenticated', 'authenticated', 'selected']);
const LOGGED_IN: readonly ImapState[] = Object.freeze(['authenticated', 'selected']);

/** The capability list for this session now. */
export function capabilities(s: ImapSession): string {
  const o = imapOptions(s.ctx.service);
  if (s.state !== 'notAuthenticated') return postLoginCapabilities(o);
  return preLoginCapabilities(o, s.secure, o.allowStartTLS && tlsConfigured(s.ctx.listener));
}

/** ENABLE's names (upper case) → the session's set, and the spelling ENABLED answers with. */
const ENABLE_NAMES: ReadonlyMap<string, readonly [Enabled, string]> = new Map<string, readonly [Enabled, string]>([
  ['CONDSTORE', ['CONDSTORE', 'CONDSTORE']],
  ['QRESYNC', ['QRESYNC', 'QRESYNC']],
  ['IMAP4REV2', ['IMAP4REV2', 'IMAP4rev2']],
  ['UTF8=ACCEPT', ['UTF8=ACCEPT', 'UTF8=ACCEPT']],
]);

function enable(cmd: Cmd<'ENABLE'>, s: ImapSession): V {
  const on = s.data.enabled;
  const told: string[] = [];
  for (const c of cmd.caps) {
    const e = ENABLE_NAMES.get(c.toUpperCase());
    if (e === undefined || on.has(e[0])) continue;
    on.add(e[0]);
    told.push(e[1]);
    if (e[0] === 'QRESYNC') on.add('CONDSTORE'); // RFC 7162 §3.2.3
  }
  return ok(cmd.tag, 'ENABLE completed', { untagged: `* ENABLED${told.map((t) => ` ${t}`).join('')}\r\n` });
}

/** Compression active on these sessions (COMPRESS once per connection). */
const compressed = new WeakSet<ImapSession>();

function compress(cmd: Cmd<'COMPRESS'>, s: ImapSession): V {
  if (cmd.mechanism.toUpperCase() !== 'DEFLATE') return bad(cmd.tag, 'unknown compression mechanism');
  if (compressed.has(s)) return no(cmd.tag, '[COMPRESSIONACTIVE] DEFLATE already active');
  compressed.add(s);
  return upgrade(`${cmd.tag} OK DEFLATE active\r\n`, { wrap: deflateWrap });
}

function id(cmd: Cmd<'ID'>, s: ImapSession): V {
  const on = imapOptions(s.ctx.service).imapIdEnabled;
  return ok(cmd.tag, 'ID completed', { untagged: on ? '* ID ("name" "Postern" "vendor" "Postern")\r\n' : '* ID NIL\r\n' });
}

export const GENERAL_ROWS: ReadonlyArray<readonly [string, ImapRow]> = Object.freeze([
  ['CAPABILITY', { states: ANY, expunges: true, run: (cmd: Command, s: ImapSession): V => ok(cmd.tag, 'CAPABILITY completed', { untagged: `* CAPABILITY ${capabilities(s)}\r\n` }) }],
  ['NOOP', { states: ANY, expunges: true, run: (cmd: Command): V => ok(cmd.tag, 'NOOP completed') }],
  ['LOGOUT', { states: ANY, expunges: true, run: (cmd: Command): V => stop(`* BYE logging out\r\n${cmd.tag} OK LOGOUT completed\r\n`, 'normal') }],
  ['ID', { states: ANY, expunges: true, run: (cmd: Command, s: ImapSession) => id(cmd as Cmd<'ID'>, s) }],
  ['ENABLE', { states: LOGGED_IN, expunges: true, run: (cmd: Command, s: ImapSession) => enable(cmd as Cmd<'ENABLE'>, s) }],
  ['NAMESPACE', { states: LOGGED_IN, expunges: true, run: (cmd: Command): V => ok(cmd.tag, 'NAMESPACE completed', { untagged: '* NAMESPACE (("" "/")) NIL NIL\r\n' }) }],
  ['COMPRESS', { states: LOGGED_IN, expunges: true, run: (cmd: Command, s: ImapSession) => compress(cmd as Cmd<'COMPRESS'>, s) }],
]);
