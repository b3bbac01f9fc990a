/**
 * protocols/report/datagram.ts: the counter datagram one Postern node sends to another's Report
 * service (a cluster's front ends reporting to one Report service): UTF-8 JSON,
 * `{"v":1,"node":"<hostname>","t":<ms>,"c":{"<counter>":<events since its previous sample>,…}}`,
 * at most 8 KB. Gauges (QUEUE_Size) carry the level. Counters not in service/report.ts are
 * ignored; anything else malformed makes the datagram garbage.
 *
 * Exports: `MAX_DATAGRAM_BYTES`, `CounterDatagram`, `encodeDatagram(node, t, counts)`,
 * `decodeDatagram(buf)` → the datagram or null (garbage). Throws nothing.
 */
import { isReportCounter } from '../../service/report.ts';

export const MAX_DATAGRAM_BYTES = 8192;
/** A node's name: a host name (letters, digits, `-`, `.`, `_`), at most 255 characters. */
const NODE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/;

export interface CounterDatagram {
  node: string;
  t: number;
  c: Record<string, number>;
}

export function encodeDatagram(node: string, t: number, counts: Record<string, number>): Buffer {
  return Buffer.from(JSON.stringify({ v: 1, node, t, c: counts }), 'utf8');
}

export function decodeDatagram(buf: Buffer): CounterDatagram | null {
  if (buf.length === 0 || buf.length > MAX_DATAGRAM_BYTES) return null;
  let v: unknown;
  try {
    v = JSON.parse(buf.toString('utf8'));
  } catch {
    return null;
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return null;
  const o = v as Record<string, unknown>;
  if (o.v !== 1 || typeof o.node !== 'string' || !NODE.test(o.node) || typeof o.t !== 'number' || !Number.isFinite(o.t)) return null;
  if (o.c === null || typeof o.c !== 'object' || Array.isArray(o.c)) return null;
  const c: Record<string, number> = {};
  for (const [k, n] of Object.entries(o.c as Record<string, unknown>)) {
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) return null;
    if (isReportCounter(k)) c[k] = n;
  }
  return { node: o.node.toLowerCase(), t: o.t, c };
}
