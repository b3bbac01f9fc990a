/**
 * protocols/report/index.ts: the Report service's threads (UDP, default 127.0.0.1:2001): they
 * receive the counter datagrams of other Postern nodes (a cluster's front ends, each with
 * `reportHost` set to this service's listener; datagram.ts), admitted per datagram by the
 * listener's and the service's allow/deny rules (workers/conn-thread.ts counts the refused ones
 * on the listener). A datagram's counters are counted as this service's events
 * `node/<node>/<counter>`, which the main thread's sampler (collector.ts) stores under the
 * node's scope (`node:<name>` in `report.query`). Sampling this server's own counters and
 * writing the sample files happen on the main thread (collector.ts), where the counters are.
 *
 * Counted (on /status, the report service's `counters`): `report.datagrams` (accepted),
 * `report.garbage` (not a counter datagram: ignored), `report.nodes_over_limit` (from a node past
 * `maxNodes` distinct nodes this thread has heard: dropped).
 *
 * Exports: the DatagramModule `onDatagram`. Throws nothing.
 */
import type { DatagramContext } from '../../service/protocol.ts';
import { optionsOf } from '../../config/options.ts';
import { decodeDatagram } from './datagram.ts';

/** Nodes this thread has heard from (bounded by maxNodes). */
const nodes = new Set<string>();

export function onDatagram(data: Buffer, from: { address: string; port: number }, ctx: DatagramContext): void {
  const d = decodeDatagram(data);
  if (d === null) {
    ctx.count?.('report.garbage');
    ctx.log.debug({ from: from.address, bytes: data.length }, 'report: garbage datagram ignored');
    return;
  }
  if (!nodes.has(d.node)) {
    if (nodes.size >= optionsOf(ctx.service, 'report').maxNodes) {
      ctx.count?.('report.nodes_over_limit');
      return;
    }
    nodes.add(d.node);
  }
  ctx.count?.('report.datagrams');
  for (const [name, n] of Object.entries(d.c)) ctx.count?.(`node/${d.node}/${name}`, n);
}
