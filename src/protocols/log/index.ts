/**
 * protocols/log/: the Log service (`log`, UDP, seed port 2000; inventory §8).
 *
 * protocols/log/index.ts: the DatagramModule. Each admitted datagram (the listener's allow
 * and deny rules have been applied per datagram by the connection thread, which counts the
 * refused ones per listener) is a syslog record: Postern's own (RFC 5424, from the services'
 * log sinks, net/log-sink.ts, of this server or of another) or any syslog sender's (RFC 5424 or
 * RFC 3164, e.g. `logger --udp`). A datagram longer than `maxRecordSize`, or that is not
 * syslog, is ignored and counted (`log.oversize`, `log.garbage`); a record no rule takes is
 * counted (`log.unrouted`); one the write buffer cannot take is counted (`log.dropped`).
 * Records go to files by the service's rules (protocols/log/files.ts) under <dataDir>/log/.
 * A write trouble (a full disk) is logged once as an error, "log lines dropped: disk full",
 * and its end as a warning with the count lost. Nothing is logged per datagram (the service's
 * own records may come back to it). Lines still waiting when the thread exits are appended
 * synchronously at its exit.
 *
 * Exports: `onDatagram` (the DatagramModule). Throws nothing.
 */
import path from 'node:path';
import { optionsOf, type ServiceOptions } from '../../config/options.ts';
import { parseSyslog } from '../../net/syslog.ts';
import type { DatagramContext } from '../../service/protocol.ts';
import { LogFiles } from './files.ts';

let files: LogFiles | null = null;
let applied: ServiceOptions | null = null;
let count: DatagramContext['count'];

function filesFor(ctx: DatagramContext): LogFiles {
  const o = optionsOf(ctx.service, 'log');
  count = ctx.count;
  if (files === null) {
    const log = ctx.log;
    files = new LogFiles({
      dir: path.join(ctx.dataDir ?? 'data', 'log'),
      rules: o.rules,
      writeBufferBytes: o.writeBufferBytes,
      onTrouble: (ok, why, dropped) => {
        if (ok) log.warn({ dropped }, `log lines written again after ${why}; ${dropped} lines were dropped`);
        else log.error({ dropped }, `log lines dropped: ${why}`);
      },
      onDropped: (n) => {
        for (let i = 0; i < n; i++) count?.('log.dropped');
      },
    });
    applied = ctx.service;
    const f = files;
    process.once('exit', () => f.flushSync()); // a draining or stopping thread keeps its last lines
  } else if (applied !== ctx.service) {
    files.setOptions(o.rules, o.writeBufferBytes);
    applied = ctx.service;
  }
  return files;
}

export function onDatagram(data: Buffer, from: { address: string; port: number }, ctx: DatagramContext): void {
  const o = optionsOf(ctx.service, 'log');
  if (data.length > o.maxRecordBytes) {
    ctx.count?.('log.oversize');
    return;
  }
  const r = parseSyslog(data, Date.now(), from.address);
  if (r === null) {
    ctx.count?.('log.garbage');
    return;
  }
  ctx.count?.(filesFor(ctx).add(r) ? 'log.received' : 'log.unrouted');
}
