/**
 * protocols/smtp/mailauth.ts: mail authentication of a message received from outside (SPF
 * RFC 7208, DKIM RFC 6376, DMARC RFC 9989, ARC RFC 8617) with mailauth's `authenticate`, through
 * the server's resolver, and what smtpIncoming does with the result:
 *  - the `Authentication-Results:` field (RFC 8601; authserv-id = this server's host name) and
 *    mailauth's `Received-SPF:` go on top of the queued message;
 *  - every `Authentication-Results:` field the message already carries that claims our
 *    authserv-id is removed first (RFC 8601 §5: a forgery, or our own from an earlier hop);
 *  - a DMARC failure under the author domain's effective policy p=reject is refused (550 5.7.1)
 *    and under p=quarantine goes to the recipients' Junk folder (QueueEnvelope.junk) when the
 *    policy mode for that domain is `enforce`; `monitor` only writes the fields.
 *
 * Time bound: every DNS query made for the message shares one deadline (`timeoutMs`): a query
 * still unanswered then fails with ETIMEOUT, which mailauth reports as `temperror`; and should
 * mailauth itself not finish within the deadline plus a second, the fields say temperror for
 * every method. A temperror never refuses a message.
 *
 * Which mail is checked: with `mailAuth` on (the default), every message whose client neither
 * authenticated (AUTH) nor is in `relayNetworks`: the checks are for mail from outside; a
 * submission from our own users or networks is neither checked nor marked.
 *
 * Exports: `checkIncoming(s, tx, text)` (the session's step), `authenticateMessage(body, o)`,
 * `stripOurResults(body, authservId)`, `dmarcAction`, `policyModeFor`, `resolverFor(service)`,
 * `MailAuthResult`, `MailAuthOptions`, `Resolver`. Throws nothing
 * (`authenticateMessage` turns every failure into temperror results).
 */
import { createDnr } from '../../net/dnr.ts';
import { defaultDnrOptions } from '../../config/resolve.ts';
import type { ServiceOptions } from '../../config/options.ts';
import type { Session, Tx } from './state.ts';

/** dns.promises.resolve's shape, which mailauth and Dnr.resolver() (net/dnr-types.ts) share. */
export type Resolver = (name: string, rrtype: string) => Promise<unknown>;

export interface MailAuthOptions {
  ip: string;
  helo: string;
  /** MAIL FROM's address ('' for the null sender). */
  sender: string;
  /** This server's host name: the authserv-id. */
  hostname: string;
  resolver: Resolver;
  timeoutMs: number;
}

export interface MailAuthResult {
  /** The fields to put on top of the message, each CRLF-terminated. */
  headers: string;
  /** spf, dkim (the first signature's), dmarc and arc results: pass, fail, none, temperror … */
  spf: string;
  dkim: string;
  dmarc: string;
  arc: string;
  /** The author (From) domain DMARC looked at, and its effective policy; null: not evaluated. */
  fromDomain: string | null;
  policy: 'none' | 'quarantine' | 'reject' | null;
  /** The deadline passed before mailauth finished. */
  timedOut: boolean;
  /** mailauth failed (its message): every result is temperror. */
  error?: string;
}

const GRACE_MS = 1000;

/** mailauth and its dependencies (~11 MB of heap per thread) load with the first message checked,
 * not with the thread: an SMTP thread that serves only our own users never loads them. */
let mailauthModule: Promise<typeof import('mailauth')> | undefined;
const mailauth = (): Promise<typeof import('mailauth')> => (mailauthModule ??= import('mailauth'));

function timeoutError(): Error {
  return Object.assign(new Error('DNS query timed out (mail authentication time limit)'), { code: 'ETIMEOUT' });
}

/** The resolver with a shared deadline: a query not answered by then rejects with ETIMEOUT. */
function bounded(resolver: Resolver, deadline: number): Resolver {
  return (name, rrtype) => {
    const left = deadline - Date.now();
    if (left <= 0) return Promise.reject(timeoutError());
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(timeoutError()), left);
      resolver(name, rrtype).then((v) => { clearTimeout(t); resolve(v); }, (e: unknown) => { clearTimeout(t); reject(e); });
    });
  };
}

/** A header-safe token: what mailauth would write for an authserv-id we cannot vouch for. */
const clean = (s: string): string => s.replace(/[^\x21-\x7e]/g, '?').replace(/[;()"\\]/g, '?').slice(0, 255);

/** The fields when mailauth did not finish (`why`): temperror for every method. */
function temperrorHeaders(o: MailAuthOptions, why: string): string {
  const c = `(${why})`;
  return `Authentication-Results: ${clean(o.hostname)};\r\n spf=temperror ${c} smtp.mailfrom=${clean(o.sender === '' ? o.helo : o.sender)};\r\n dkim=temperror ${c};\r\n arc=temperror ${c};\r\n dmarc=temperror ${c}\r\n`;
}

const crlf = (s: string): string => s.replace(/\r?\n/g, '\r\n');

export async function authenticateMessage(body: Buffer, o: MailAuthOptions): Promise<MailAuthResult> {
  const deadline = Date.now() + o.timeoutMs;
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<null>((resolve) => { timer = setTimeout(() => resolve(null), o.timeoutMs + GRACE_MS); });
  const run = mailauth().then(({ authenticate }) => authenticate(body, {
    ip: o.ip.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, ''),
    helo: o.helo,
    sender: o.sender,
    mta: o.hostname,
    resolver: bounded(o.resolver, deadline) as never,
    disableBimi: true,
  })).catch((e: unknown) => (e instanceof Error ? e : new Error(String(e))));
  const r = await Promise.race([run, late]);
  clearTimeout(timer);
  if (r === null || r instanceof Error) {
    const why = r === null ? 'mail authentication time limit reached' : 'mail authentication failed';
    return { headers: temperrorHeaders(o, why), spf: 'temperror', dkim: 'temperror', dmarc: 'temperror', arc: 'temperror', fromDomain: null, policy: null, timedOut: r === null, ...(r === null ? {} : { error: r.message }) };
  }
  const dm = r.dmarc === false ? null : r.dmarc;
  const policy = dm === null ? null : dm.policy === 'reject' || dm.policy === 'quarantine' || dm.policy === 'none' ? dm.policy : null;
  return {
    headers: crlf(r.headers),
    spf: r.spf === false ? 'none' : r.spf.status.result,
    dkim: r.dkim.results[0]?.status.result ?? 'none',
    dmarc: dm === null ? 'none' : dm.status.result,
    arc: r.arc === false ? 'none' : r.arc.status.result,
    fromDomain: dm === null ? null : (dm.status.header?.from ?? null),
    policy,
    timedOut: Date.now() > deadline,
  };
}

/** What smtpIncoming does with the message: accept it, send it to Junk, or refuse it. */
export function dmarcAction(r: MailAuthResult, mode: 'enforce' | 'monitor'): 'accept' | 'junk' | 'reject' {
  if (mode !== 'enforce' || r.dmarc !== 'fail') return 'accept';
  if (r.policy === 'reject') return 'reject';
  if (r.policy === 'quarantine') return 'junk';
  return 'accept';
}

/** The policy mode for an author domain: the most specific rule naming it or a parent domain,
 * else the service-wide mode. */
export function policyModeFor(domain: string | null, rules: ReadonlyMap<string, 'enforce' | 'monitor'>, fallback: 'enforce' | 'monitor'): 'enforce' | 'monitor' {
  if (domain === null || rules.size === 0) return fallback;
  const labels = domain.toLowerCase().replace(/\.$/, '').split('.');
  for (let i = 0; i < labels.length; i++) {
    const m = rules.get(labels.slice(i).join('.'));
    if (m !== undefined) return m;
  }
  return fallback;
}

/** The header section's end: the index just past its empty line (or the body's length). */
function headerEnd(body: Buffer): number {
  if (body.length >= 2 && body[0] === 13 && body[1] === 10) return 0;
  const i = body.indexOf('\r\n\r\n');
  return i < 0 ? body.length : i + 2;
}

/**
 * The message without the `Authentication-Results:` fields whose authserv-id is `authservId`
 * (case-insensitive; RFC 8601 §5). Returns `body` itself when there is none.
 */
export function stripOurResults(body: Buffer, authservId: string): Buffer {
  const end = headerEnd(body);
  const head = body.subarray(0, end).toString('latin1');
  if (!/^authentication-results[ \t]*:/im.test(head)) return body;
  const id = authservId.toLowerCase();
  // split into fields: a line starting with space or tab continues the previous one
  const lines = head.split(/(?<=\r\n)/);
  const keep: string[] = [];
  let dropping = false;
  let removed = false;
  for (let idx = 0; idx < lines.length; idx++) {
    const line = lines[idx]!;
    if (line.startsWith(' ') || line.startsWith('\t')) {
      if (!dropping) keep.push(line);
      continue;
    }
    dropping = false;
    const m = /^authentication-results[ \t]*:/i.exec(line);
    if (m !== null) {
      // the field's value, unfolded, up to its first ';': authserv-id [version]
      let value = line.slice(m[0].length);
      for (let k = idx + 1; k < lines.length && (lines[k]!.startsWith(' ') || lines[k]!.startsWith('\t')); k++) value += lines[k];
      const first = value.replace(/\([^)]*\)/g, ' ').replace(/\r\n/g, '').split(';')[0]!.trim().split(/\s+/)[0] ?? '';
      if (first.replace(/^"|"$/g, '').toLowerCase() === id) {
        dropping = true;
        removed = true;
        continue;
      }
    }
    keep.push(line);
  }
  if (!removed) return body;
  return Buffer.concat([Buffer.from(keep.join(''), 'latin1'), body.subarray(end)]);
}

const resolvers = new WeakMap<ServiceOptions, Resolver>();

/** The server's resolver (net/dnr.ts, from the Server's `dnr` block) for this service: one per
 * ServiceOptions object, so a reload makes a new one. */
export function resolverFor(service: ServiceOptions): Resolver {
  let r = resolvers.get(service);
  if (r === undefined) {
    r = createDnr(service.dnr ?? defaultDnrOptions()).resolver();
    resolvers.set(service, r);
  }
  return r;
}

/**
 * The session's step at the end of DATA/BDAT, before the message is queued: for mail from
 * outside (see above), the checks; then either the text to queue (our fields on top, forged
 * ones removed) and whether it goes to Junk, or the refusal to answer. Mail that is not checked
 * passes unchanged.
 */
export async function checkIncoming(s: Session, tx: Tx, text: Buffer): Promise<{ body: Buffer; junk: boolean } | { refuse: string }> {
  const d = s.data;
  const o = d.o;
  const ip = s.ctx.remoteAddress;
  if (!o.mailAuth || d.auth !== null || o.relayAllowed(ip)) return { body: text, junk: false };
  const body = stripOurResults(text, o.hostname);
  const r = await authenticateMessage(body, { ip, helo: d.helo ?? '', sender: tx.from, hostname: o.hostname, resolver: resolverFor(s.ctx.service), timeoutMs: o.mailAuthTimeoutMs });
  const mode = policyModeFor(r.fromDomain, o.dmarcRules, o.dmarcMode);
  const action = dmarcAction(r, mode);
  s.ctx.count(`mailauth.dmarc.${r.dmarc.replace(/[^a-z]/g, '')}`);
  if (r.error !== undefined) s.ctx.log.error({ ip, from: tx.from, error: r.error }, 'smtp: mail authentication failed: temperror results');
  if (r.timedOut) s.ctx.log.warn({ ip, from: tx.from, timeoutMs: o.mailAuthTimeoutMs }, 'smtp: mail authentication reached mailAuthTimeout: temperror results');
  if (action === 'reject') {
    const dom = (r.fromDomain ?? '').replace(/[^\x21-\x7e]/g, '?').slice(0, 255);
    return { refuse: `550 5.7.1 Message rejected: DMARC policy of ${dom} (p=reject): the message is not authenticated by its author domain\r\n` };
  }
  return { body: Buffer.concat([Buffer.from(r.headers, 'utf8'), body]), junk: action === 'junk' };
}
