/**
 * protocols/smtpOutgoing/received.ts: the `Received:` field this server puts above a message
 * it relays (RFC 5321 §4.4), in the format store/received.ts writes for local copies
 * (copied here: services do not import each other): who handed it to us (HELO, address), this
 * server and the RFC 3848 `with` type, the TLS in use, the queue id, the recipient when there is
 * one, and the time SMTP received it. A pure function of the queue entry. Client-supplied text
 * is cleaned of controls.
 *
 * Exports: `receivedField(id, env, rcpt)`. Throws nothing.
 */
import type { QueueEnvelope } from '../../store/queue-record.ts';

const clean = (s: string, max = 255): string => s.replace(/[\x00-\x1f\x7f]/g, '?').slice(0, max);
const bare = (s: string, max = 255): string => s.replace(/[\x00-\x1f\x7f()\\\s]/g, '?').slice(0, max);

function rfc5322Date(ms: number): string {
  return new Date(ms).toUTCString().replace('GMT', '+0000');
}

function ipLiteral(ip: string): string {
  const v4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (v4 !== null) return `[${v4[1]}]`;
  if (ip.includes(':')) return `[IPv6:${bare(ip, 64)}]`;
  return `[${bare(ip, 64)}]`;
}

/** `only`: the recipient named in `for <…>` (one recipient in this transaction), else null. */
export function receivedField(id: string, env: QueueEnvelope, only: string | null): string {
  const lines = [
    `Received: from ${bare(env.helo) || 'unknown'} (${ipLiteral(env.ip)})`,
    `\tby ${bare(env.by)} (Postern) with ${bare(env.with, 16)} id ${bare(id, 32)}`,
  ];
  if (env.tls !== null) lines.push(`\t(using ${env.tls.replace(/[\x00-\x1f\x7f()\\]/g, '?').slice(0, 255)})`);
  if (only !== null) lines.push(`\tfor <${clean(only, 1024)}>; ${rfc5322Date(env.receivedAt)}`);
  else lines[lines.length - 1] += `; ${rfc5322Date(env.receivedAt)}`;
  return `${lines.join('\r\n')}\r\n`;
}
