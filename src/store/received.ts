/**
 * store/received.ts: the header lines local delivery puts above a message (processing's, from
 * the queue, and SMTP's at receipt, store/local-delivery.ts):
 * `Return-Path:` (RFC 5321 §4.4, the envelope sender) and this server's `Received:` field
 * (§4.4 time-stamp line) with the RFC 3848 / RFC 6531 `with` type (ESMTPS, ESMTPA, ESMTPSA …),
 * the TLS version and cipher as a comment, the queue id, the recipient when there is exactly
 * one, and the time SMTP received the message. The lines are a pure function of the queue
 * entry, so every attempt to deliver an entry writes the same bytes (delivery relies on it to
 * recognise a copy written before a crash). Client-supplied text is cleaned of controls.
 *
 * Exports: `deliveryPrefix(id, env)`, `rfc5322Date(ms)`, `ipLiteral(ip)`. Throws nothing.
 */
import type { QueueEnvelope } from './queue-record.ts';

const clean = (s: string, max = 255): string => s.replace(/[\x00-\x1f\x7f]/g, '?').slice(0, max);
/** For text inside a comment, or a name next to one: no parentheses or backslashes either. */
const bare = (s: string, max = 255): string => s.replace(/[\x00-\x1f\x7f()\\\s]/g, '?').slice(0, max);

/** The last second formatted (a busy server stamps many messages within one). */
let lastSec = NaN;
let lastText = '';

/** "Tue, 01 Jul 2003 10:52:37 +0000" */
export function rfc5322Date(ms: number): string {
  const sec = Math.floor(ms / 1000);
  if (sec !== lastSec) {
    lastText = new Date(sec * 1000).toUTCString().replace('GMT', '+0000');
    lastSec = sec;
  }
  return lastText;
}

/** An address literal: [192.0.2.1], [IPv6:2001:db8::1]. */
export function ipLiteral(ip: string): string {
  const v4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (v4 !== null) return `[${v4[1]}]`;
  if (ip.includes(':')) return `[IPv6:${bare(ip, 64)}]`;
  return `[${bare(ip, 64)}]`;
}

export function deliveryPrefix(id: string, env: QueueEnvelope): string {
  const lines = [
    `Return-Path: <${clean(env.from, 1024)}>`,
    `Received: from ${bare(env.helo) || 'unknown'} (${ipLiteral(env.ip)})`,
    `\tby ${bare(env.by)} (Postern) with ${bare(env.with, 16)} id ${bare(id, 32)}`,
  ];
  if (env.tls !== null) lines.push(`\t(using ${env.tls.replace(/[\x00-\x1f\x7f()\\]/g, '?').slice(0, 255)})`);
  const only = env.rcpts.length === 1 ? env.rcpts[0]!.to : null;
  if (only !== null) lines.push(`\tfor <${clean(only, 1024)}>; ${rfc5322Date(env.receivedAt)}`);
  else lines[lines.length - 1] += `; ${rfc5322Date(env.receivedAt)}`;
  return `${lines.join('\r\n')}\r\n`;
}
