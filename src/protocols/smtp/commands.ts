/**
 * protocols/smtp/commands.ts: the SMTP command table (RFC 5321 with PIPELINING, SIZE, 8BITMIME,
 * SMTPUTF8, ENHANCEDSTATUSCODES, STARTTLS, AUTH, CHUNKING/BINARYMIME), a frozen map keyed by
 * verb with the states each verb is allowed in, and the acceptance policy:
 *  - a recipient in a local domain must resolve to an account or alias (else 550 5.1.1);
 *  - with `enableSmtpRouting` (a cluster front end, routing.ts), a recipient the user map knows
 *    is accepted and queued for its back end (451 4.4.3 when the map cannot answer); one it
 *    does not know follows the rules below;
 *  - a recipient elsewhere is relayed only for an authenticated client or one in
 *    `relayNetworks` (else 554 5.7.1), and then waits in the queue for smtpOutgoing;
 *  - at most `maxRcptCount` recipients (452 4.5.3), at most `maxDataSize` (552 5.3.4, refused
 *    at MAIL from SIZE= and while the text streams in), at most `maxReceivedHeaders`
 *    Received: fields (554 5.4.6), no bare LF in DATA or BDAT unless `allowBareLineFeed`, no
 *    bare CR unless `allowBareCarriageReturn` (550 5.5.2; a BINARYMIME body is not looked at);
 *  - mail from outside is checked (SPF, DKIM, DMARC, ARC: mailauth.ts) and marked with
 *    Authentication-Results; a DMARC p=reject failure is refused (550 5.7.1) under `enforce`;
 *  - the message is in the durable queue before the 250, or, local mail up to processing's
 *    `poolMessageSize` while processing runs, durable in its mailboxes (delivered at receipt,
 *    store/local-delivery.ts: the same header lines, log lines and counters as processing's).
 *  - DSN (RFC 3461): RET and ENVID at MAIL, NOTIFY and ORCPT at RCPT (dsn-params.ts), kept in
 *    the queued envelope (`QueueEnvelope.dsn`, `QueueRcpt.dsn`) for the bounces (store/dsn.ts).
 * VRFY answers 252 and EXPN 502 for everyone: no account is ever revealed.
 *
 * Exports: `COMMANDS`, `BARRIER_VERBS`. Throws nothing (handlers return verdicts).
 */
import { isPosternError } from '../../errors.ts';
import { noreply, reply, stop, upgrade, type CommandRow, type Verdict } from '../../session/line-session.ts';
import { isAscii, parsePathArg } from './address.ts';
import { authCommand } from './auth.ts';
import { mailDsnParam, rcptDsnParam } from './dsn-params.ts';
import type { DsnEnvelope, DsnRcpt, NextHop, QueueEnvelope } from '../../store/queue-record.ts';
import { routeRecipient } from './routing.ts';
import { lookupMailbox } from './lookup.ts';
import { ChunkCollector, DotDecoder, countReceived } from './data.ts';
import { multiline, storeErrorReply } from './replies.ts';
import { newTx, tlsDescription, withType, type D, type S, type Session, type Tx } from './state.ts';
import { countQueued, dropTx, logTx, refuse, refuseRcpt, type SmtpRefusal } from './txlog.ts';
import { checkIncoming } from './mailauth.ts';
import { localOnly, prepareCopy } from '../../store/local-delivery.ts';
import type { PreparedCopy, QueueClient } from '../../store/queue-client.ts';

type V = Verdict<S>;
type Row = CommandRow<S, D>;

const ANY: readonly S[] = ['fresh', 'ready', 'mail', 'rcpt', 'bdat'];
const syntax = (text: string): V => reply(`501 5.5.4 Syntax: ${text}\r\n`, { error: 'command' });

function cleanHelo(h: string): string {
  return h.replace(/[^\x21-\x7e]/g, '?').slice(0, 255);
}

function ehlo(args: string, s: Session): V {
  const d = s.data;
  const host = args.trim();
  if (host === '' || /\s/.test(host)) return syntax('EHLO hostname');
  const o = d.o;
  dropTx(s); // (logged under the name it was begun with)
  d.helo = cleanHelo(host);
  d.esmtp = true;
  const lines = [`${o.hostname} Hello ${d.helo} [${s.ctx.remoteAddress}]`];
  if (o.pipelining) lines.push('PIPELINING');
  lines.push(`SIZE ${o.maxMessageBytes}`);
  if (o.eightBitMime) lines.push('8BITMIME');
  if (o.smtpUtf8) lines.push('SMTPUTF8');
  lines.push('ENHANCEDSTATUSCODES');
  if (d.tlsAvailable && !s.secure) lines.push('STARTTLS');
  const mechs = s.secure ? o.secureAuth : o.plainAuth;
  if (mechs.length > 0) lines.push(`AUTH ${mechs.join(' ')}`);
  if (o.chunking) lines.push('CHUNKING');
  if (o.binaryMime) lines.push('BINARYMIME');
  lines.push('DSN');
  return reply(multiline(250, lines), { state: 'ready' });
}

function helo(args: string, s: Session): V {
  const host = args.trim();
  if (host === '' || /\s/.test(host)) return syntax('HELO hostname');
  dropTx(s);
  s.data.helo = cleanHelo(host);
  s.data.esmtp = false;
  return reply(`250 ${s.data.o.hostname}\r\n`, { state: 'ready' });
}

function mail(args: string, s: Session): V {
  const d = s.data;
  const o = d.o;
  const p = parsePathArg(args, 'FROM');
  if ('error' in p) return syntax(`MAIL FROM:<address> (${p.error})`);
  let body: Tx['body'] = '7BIT';
  let utf8 = false;
  let dsn = null as DsnEnvelope | null;
  if (p.params.size > 0 && !d.esmtp) return reply('555 5.5.4 Error: parameters need EHLO\r\n', { error: 'command' });
  for (const [key, value] of p.params) {
    if (key === 'SIZE' && value !== null && /^\d{1,20}$/.test(value)) {
      if (Number(value) > o.maxMessageBytes) {
        refuse(s, 'mail', 'size');
        return reply(`552 5.3.4 Message size exceeds fixed maximum message size (${o.maxMessageBytes} bytes)\r\n`);
      }
    } else if (key === 'BODY' && value !== null) {
      const v = value.toUpperCase();
      if (v === '7BIT' || (v === '8BITMIME' && o.eightBitMime) || (v === 'BINARYMIME' && o.binaryMime)) body = v;
      else return reply(`555 5.5.4 Unsupported BODY type ${v.slice(0, 32)}\r\n`, { error: 'command' });
    } else if (key === 'SMTPUTF8' && value === null && o.smtpUtf8) utf8 = true;
    else if (key === 'AUTH' && value !== null) {
      // RFC 4954 §5: the original submitter; accepted and not relied on
    } else if (key === 'RET' || key === 'ENVID') {
      const v = mailDsnParam(key, value);
      if (typeof v === 'string') return syntax(v);
      dsn = { ret: v.ret ?? dsn?.ret ?? null, envid: v.envid ?? dsn?.envid ?? null };
    } else return reply(`555 5.5.4 Unsupported parameter ${key.slice(0, 32)}\r\n`, { error: 'command' });
  }
  if (!utf8 && !isAscii(p.address)) return reply('553 5.6.7 Non-ASCII address needs MAIL FROM with SMTPUTF8\r\n', { error: 'command' });
  d.tx = newTx(p.address, body, utf8);
  if (dsn !== null) d.tx.dsn = dsn;
  return reply('250 2.1.0 Ok\r\n', { state: 'mail' });
}

async function rcpt(args: string, s: Session): Promise<V> {
  const d = s.data;
  const tx = d.tx!;
  const p = parsePathArg(args, 'TO');
  if ('error' in p) return syntax(`RCPT TO:<address> (${p.error})`);
  let dsn = null as DsnRcpt | null;
  for (const [key, value] of p.params) {
    if (key !== 'NOTIFY' && key !== 'ORCPT') return reply(`555 5.5.4 Unsupported parameter ${key.slice(0, 32)}\r\n`, { error: 'command' });
    const v = rcptDsnParam(key, value);
    if (typeof v === 'string') return syntax(v);
    dsn = { notify: v.notify ?? dsn?.notify ?? null, orcpt: v.orcpt ?? dsn?.orcpt ?? null };
  }
  if (!tx.utf8 && !isAscii(p.address)) return reply('553 5.6.7 Non-ASCII address needs MAIL FROM with SMTPUTF8\r\n', { error: 'command' });
  const no = (reason: SmtpRefusal, v: V): V => (refuseRcpt(s, tx, p.address, reason), v);
  if (tx.rcpts.length >= d.o.maxRcpt) return no('too_many_rcpts', reply(`452 4.5.3 Error: too many recipients (at most ${d.o.maxRcpt} per message)\r\n`));
  const store = s.ctx.store;
  if (store === null) return no('no_store', reply('451 4.3.0 Error: the mail store is not available\r\n'));
  const shown = p.address.slice(0, 256);
  if (d.o.routing !== null) {
    // cluster SMTP routing (routing.ts): a recipient the map knows goes to its back end
    let hop: NextHop | null;
    try {
      hop = await routeRecipient(d.o.routing, p.address, s.ctx.log);
    } catch (e) {
      s.ctx.log.warn({ err: e, to: shown }, 'smtp: the user map could not route a recipient');
      return no('map_unavailable', reply(`451 4.4.3 <${shown}>: routing information is not available now; try again later\r\n`));
    }
    if (hop !== null) {
      const key = `routed:${p.address.toLowerCase()}`;
      if (tx.mailboxes.has(key)) return reply('250 2.1.5 Ok (same recipient as an earlier one)\r\n', { state: 'rcpt' });
      tx.mailboxes.add(key);
      const base = dsn === null ? { to: p.address, account: null } : { to: p.address, account: null, dsn };
      tx.rcpts.push({ ...base, hop });
      return reply('250 2.1.5 Ok: routed to its back end\r\n', { state: 'rcpt' });
    }
  }
  let mailbox: string | null;
  try {
    mailbox = await lookupMailbox(store, p.address);
  } catch (e) {
    const code = isPosternError(e) ? e.code : 'INTERNAL';
    if (code === 'STORE_NO_SUCH_ACCOUNT' || (code === 'STORE_NO_SUCH_DOMAIN' && p.domain === '')) {
      return no('unknown_user', reply(`550 5.1.1 <${shown}>: Recipient address rejected: User unknown\r\n`, { error: 'command' }));
    }
    if (code === 'STORE_BAD_NAME') return no('bad_address', reply(`553 5.1.3 <${shown}>: Recipient address rejected: bad address syntax\r\n`, { error: 'command' }));
    if (code !== 'STORE_NO_SUCH_DOMAIN') {
      s.ctx.log.error({ err: e }, 'smtp: recipient lookup failed');
      return no('lookup_failed', reply('451 4.3.0 Error: temporary recipient lookup failure\r\n'));
    }
    if (d.auth === null && !d.o.relayAllowed(s.ctx.remoteAddress)) return no('relay_denied', reply(`554 5.7.1 <${shown}>: Relay access denied\r\n`, { error: 'command' }));
    mailbox = null;
  }
  s.ctx.count('SMTP_InboundMessageTOcommandsAccepted'); // the Report service's (service/report.ts)
  if (mailbox !== null) {
    const key = mailbox.toLowerCase();
    if (tx.mailboxes.has(key)) return reply('250 2.1.5 Ok (same mailbox as an earlier recipient)\r\n', { state: 'rcpt' });
    tx.mailboxes.add(key);
  }
  tx.rcpts.push(dsn === null ? { to: p.address, account: mailbox } : { to: p.address, account: mailbox, dsn });
  if (mailbox === null) return reply('250 2.1.5 Ok: relayed (smtpOutgoing sends it on)\r\n', { state: 'rcpt' });
  return reply('250 2.1.5 Ok\r\n', { state: 'rcpt' });
}

/** Into the mailboxes at receipt (local mail up to `atReceiptBytes` while processing runs:
 * this thread runs processing's parse, the store thread the appends and one sync per shard,
 * store/local-delivery.ts), else into the queue. Durable when it resolves. */
async function storeMessage(queue: QueueClient, env: QueueEnvelope, body: Buffer, atReceiptBytes: number): Promise<{ id: string }> {
  if (atReceiptBytes === 0 || body.length > atReceiptBytes || !localOnly(env)) return queue.enqueue(env, body);
  let prepared: PreparedCopy;
  try {
    prepared = prepareCopy(body);
  } catch {
    return queue.enqueue(env, body); // processing will say why (and retry)
  }
  return queue.deliverAtReceipt(env, body, prepared);
}

/** The end of a message's text (DATA's dot, BDAT LAST): check it, queue it, answer. */
async function finish(s: Session, tx: Tx, overflow: boolean, bare: { lf: boolean; cr: boolean }, body: () => Buffer): Promise<V> {
  const d = s.data;
  const o = d.o;
  d.tx = null;
  // every way out of here is counted and logged once (txlog.ts)
  const no = (reason: SmtpRefusal, size: number | null, v: V): V => {
    refuse(s, 'data', reason);
    logTx(s, tx, { result: 'refused', reason, size });
    return v;
  };
  if (overflow) return no('size', null, reply(`552 5.3.4 Message size exceeds fixed maximum message size (${o.maxMessageBytes} bytes)\r\n`, { state: 'ready' }));
  if (bare.lf && !o.allowBareLf) return no('bare_lf', null, reply('550 5.5.2 Error: bare <LF> received: message text lines must end with <CR><LF> (RFC 5321 2.3.8)\r\n', { state: 'ready' }));
  if (bare.cr && !o.allowBareCr) return no('bare_cr', null, reply('550 5.5.2 Error: bare <CR> received: message text lines must end with <CR><LF> (RFC 5321 2.3.8)\r\n', { state: 'ready' }));
  const text = body();
  const hops = countReceived(text);
  if (hops > o.maxReceived) return no('too_many_hops', text.length, reply(`554 5.4.6 Too many hops: ${hops} Received: headers (at most ${o.maxReceived}); mail loop?\r\n`, { state: 'ready' }));
  if (d.queue === null) return no('queue_unavailable', text.length, reply('451 4.3.0 Error: the mail queue is not available\r\n', { state: 'ready' }));
  const checked = await checkIncoming(s, tx, text); // SPF, DKIM, DMARC, ARC (mailauth.ts)
  if ('refuse' in checked) return no('dmarc_reject', text.length, reply(checked.refuse, { state: 'ready' }));
  const size = checked.body.length; // the queue client transfers the bytes away
  try {
    const env: QueueEnvelope = {
      from: tx.from, rcpts: tx.rcpts, receivedAt: Date.now(), helo: d.helo ?? '', ip: s.ctx.remoteAddress, by: o.hostname,
      with: withType(d.esmtp, s.secure, d.auth !== null, tx.utf8), tls: tlsDescription(s), auth: d.auth, body: tx.body, utf8: tx.utf8,
      ...(checked.junk ? { junk: true as const } : {}),
    };
    if (tx.dsn !== undefined) env.dsn = tx.dsn;
    const { id } = await storeMessage(d.queue, env, checked.body, o.atReceiptBytes);
    logTx(s, tx, { result: 'queued', queueId: id, size });
    countQueued(s, tx, text.length);
    return reply(`250 2.0.0 Ok: queued as ${id}\r\n`, { state: 'ready' });
  } catch (e) {
    s.ctx.log.error({ err: e }, 'smtp: could not queue a message');
    const code = isPosternError(e) ? e.code : 'INTERNAL';
    const reason: SmtpRefusal = code === 'QUEUE_FULL' ? 'queue_full' : code === 'STORE_NO_SPACE' ? 'no_space' : code === 'STORE_BAD_ARGUMENT' ? 'queue_refused' : 'queue_error';
    return no(reason, size, reply(storeErrorReply(e), { state: 'ready' }));
  }
}

function data(_args: string, s: Session): V {
  const tx = s.data.tx!;
  if (tx.body === 'BINARYMIME') return reply('503 5.5.1 Error: BODY=BINARYMIME needs BDAT\r\n', { error: 'command' });
  const dec = new DotDecoder(s.data.o.maxMessageBytes);
  s.expectStream((chunk) => dec.feed(chunk), () => finish(s, tx, dec.overflow, { lf: dec.bareLf, cr: dec.bareCr }, () => dec.body()));
  return reply('354 End data with <CR><LF>.<CR><LF>\r\n');
}

function bdat(args: string, s: Session): V | Promise<V> {
  const m = /^\s*(\d{1,15})(?:\s+(LAST))?\s*$/i.exec(args);
  // the chunk's bytes follow the command: without a size they cannot be told from commands
  if (m === null) return stop('501 5.5.4 Syntax: BDAT size [LAST]; closing the connection\r\n', 'error_limit');
  const size = Number(m[1]);
  const last = m[2] !== undefined;
  const d = s.data;
  let refusal: string | null = null;
  if (!d.o.chunking) refusal = '502 5.5.1 Error: BDAT is not offered here\r\n';
  else if (s.state === 'fresh' || s.state === 'ready') refusal = '503 5.5.1 Error: send MAIL first\r\n';
  else if (s.state === 'mail') refusal = '554 5.5.1 Error: no valid recipients\r\n';
  const tx = d.tx;
  if (refusal === null && tx !== null) tx.chunks ??= new ChunkCollector(d.o.maxMessageBytes, tx.body === 'BINARYMIME');
  const end = (): V | Promise<V> => {
    if (refusal !== null || tx === null) return reply(refusal ?? '503 5.5.1 Error: no transaction\r\n', { error: 'command' });
    const chunks = tx.chunks!;
    if (last) return finish(s, tx, chunks.overflow, { lf: chunks.bareLf, cr: chunks.bareCr }, () => chunks.body());
    if (chunks.overflow) return reply(`552 5.3.4 Message size exceeds fixed maximum message size (${d.o.maxMessageBytes} bytes)\r\n`, { state: 'bdat' });
    return reply(`250 2.0.0 ${size} octets received\r\n`, { state: 'bdat' });
  };
  if (size === 0) return end();
  s.expectBytes(size, (chunk, isLast) => {
    if (refusal === null) tx?.chunks?.add(chunk);
    return isLast ? end() : undefined;
  });
  return noreply();
}

function starttls(args: string, s: Session): V {
  const d = s.data;
  if (s.secure) return reply('503 5.5.1 Error: TLS is already active\r\n', { error: 'command' });
  if (!d.tlsAvailable) return reply('454 4.7.0 TLS not available\r\n', { error: 'command' });
  if (args.trim() !== '') return syntax('STARTTLS');
  dropTx(s);
  d.helo = null; // RFC 3207 §4.2: forget everything learnt before
  d.esmtp = false;
  d.auth = null;
  return upgrade('220 2.0.0 Ready to start TLS\r\n', { state: 'fresh' });
}

function rset(_args: string, s: Session): V {
  dropTx(s);
  return reply('250 2.0.0 Ok\r\n', { state: s.data.helo === null ? 'fresh' : 'ready' });
}

export const BARRIER_VERBS: ReadonlySet<string> = new Set(['DATA', 'BDAT', 'AUTH', 'STARTTLS']);

export const COMMANDS: ReadonlyMap<string, Row> = new Map<string, Row>([
  ['EHLO', { states: ANY, run: ehlo }],
  ['HELO', { states: ANY, run: helo }],
  ['MAIL', { states: ['ready'], run: mail }],
  ['RCPT', { states: ['mail', 'rcpt'], run: rcpt }],
  ['DATA', { states: ['rcpt'], run: data }],
  ['BDAT', { states: ANY, run: bdat }],
  ['RSET', { states: ANY, run: rset }],
  ['NOOP', { states: ANY, run: () => reply('250 2.0.0 Ok\r\n') }],
  ['QUIT', { states: ANY, run: () => stop('221 2.0.0 Bye\r\n') }],
  ['HELP', { states: ANY, run: () => reply('214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT HELP VRFY EXPN STARTTLS AUTH\r\n') }],
  ['VRFY', { states: ANY, run: (a) => (a.trim() === '' ? syntax('VRFY address') : reply('252 2.0.0 Cannot VRFY user, but will accept message and attempt delivery\r\n')) }],
  ['EXPN', { states: ANY, run: () => reply('502 5.5.1 Error: EXPN is not available\r\n') }],
  ['STARTTLS', { states: ['fresh', 'ready'], run: starttls }],
  ['AUTH', { states: ['ready'], run: authCommand }],
]);
