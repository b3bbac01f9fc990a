/**
 * net/log-sink.ts: the services' side of the Log service: a pino destination (src/log.ts
 * `attachLogSink`) that turns each JSON line a thread writes into a log record (net/syslog.ts)
 * and sends it as one UDP datagram: to this server's Log service (`logType = internal`), to
 * another server's (`remote`, `logHost`) or to syslog (`system`, facility mail, `logHost` or
 * else 127.0.0.1:514). A record is sent only when its level is in its service's `logLevel`.
 *
 * Never blocks the thread: a send is handed to the kernel at once; at most `queueSize`
 * datagrams wait for their send to complete, and a record beyond that is dropped and counted
 * (`dropped`, and `onDrop` for the thread's counters). A failed send counts as dropped too.
 * The last `ringSize` records sent (or that would have been) are kept for `log.tail`.
 *
 * Exports: `LogSink`, `LogRoute`, `LogSinkOptions`, `TailQuery`, `lineToRecord(line, hostname)`,
 * `tailRecords(records, q)`. Throws nothing.
 */
import dgram from 'node:dgram';
import { formatSyslog, LOG_LEVELS, LEVEL_BITS, moduleOf, pinoToLevel, type LogLevelName, type LogRecord } from './syslog.ts';
import type { Endpoint } from '../config/options.ts';

export interface LogRoute {
  /** The levels sent (net/syslog.ts bitmask). */
  mask: number;
  /** Where datagrams go; null: nowhere (the record is only kept for log.tail). */
  target: Endpoint | null;
  /** `system` datagrams carry APP-NAME `postern` and are syslog's; the others too (one format). */
  type: 'internal' | 'remote' | 'system';
}

export interface LogSinkOptions {
  hostname: () => string;
  /** The route of a record by the service it names (`service` field); undefined: the thread's. */
  route: (service: string | undefined) => LogRoute | null;
  /** Datagrams waiting for their send at most (then records are dropped). */
  queueSize: () => number;
  ringSize?: number;
  /** Largest datagram (bytes); a longer message is cut. */
  maxBytes?: number;
  onDrop?: () => void;
}

export interface TailQuery {
  service?: string;
  /** The least severe level wanted (a word). */
  level?: LogLevelName;
  lines: number;
}

const SKIP = new Set(['level', 'time', 'pid', 'hostname', 'msg', 'service', 'actor', 'v']);

/** A pino JSON line → a record (null: not JSON). */
export function lineToRecord(line: string, hostname: string): LogRecord | null {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return null;
  }
  const extras: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) {
    if (SKIP.has(k)) continue;
    if (k === 'err' && typeof v === 'object' && v !== null) {
      const e = v as Record<string, unknown>;
      extras[k] = { type: e.type, message: e.message, code: e.code };
    } else extras[k] = v;
  }
  const msg = `${typeof o.msg === 'string' ? o.msg : ''}${Object.keys(extras).length > 0 ? ` ${JSON.stringify(extras)}` : ''}`;
  const service = typeof o.service === 'string' ? o.service : undefined;
  return {
    time: typeof o.time === 'number' ? o.time : Date.now(),
    level: pinoToLevel(typeof o.level === 'number' ? o.level : 30),
    hostname,
    module: moduleOf(service),
    msg,
    ...(service === undefined ? {} : { service }),
  };
}

/** The last `q.lines` of `records` (oldest first) of the service and at least the level asked. */
export function tailRecords(records: readonly LogRecord[], q: TailQuery): LogRecord[] {
  const worst = q.level === undefined ? LOG_LEVELS.length - 1 : LOG_LEVELS.indexOf(q.level);
  const out: LogRecord[] = [];
  for (let i = records.length - 1; i >= 0 && out.length < q.lines; i--) {
    const r = records[i]!;
    if (q.service !== undefined && r.service !== q.service) continue;
    if (LOG_LEVELS.indexOf(r.level) > worst) continue;
    out.push(r);
  }
  return out.reverse();
}

export class LogSink {
  dropped = 0;
  sent = 0;
  private inFlight = 0;
  private sockets: { 4?: dgram.Socket; 6?: dgram.Socket } = {};
  private ring: LogRecord[] = [];
  private ringAt = 0;
  private readonly o: LogSinkOptions;
  private readonly ringSize: number;

  constructor(o: LogSinkOptions) {
    this.o = o;
    this.ringSize = o.ringSize ?? 500;
  }

  /** A pino line (src/log.ts tee): routed, filtered by level, kept, sent. */
  write(line: string): void {
    const svc = /"service":"([^"]*)"/.exec(line)?.[1];
    const route = this.o.route(svc);
    if (route === null) return;
    const levelAt = /^\{"level":(\d+)/.exec(line);
    const level = pinoToLevel(levelAt === null ? 30 : Number(levelAt[1]));
    if ((route.mask & LEVEL_BITS[level]) === 0) return;
    const r = lineToRecord(line, this.o.hostname());
    if (r === null) return;
    this.keep(r);
    if (route.target !== null) this.send(r, route.target);
  }

  private keep(r: LogRecord): void {
    if (this.ring.length < this.ringSize) this.ring.push(r);
    else {
      this.ring[this.ringAt] = r;
      this.ringAt = (this.ringAt + 1) % this.ringSize;
    }
  }

  /** The records kept, oldest first. */
  records(): LogRecord[] {
    return [...this.ring.slice(this.ringAt), ...this.ring.slice(0, this.ringAt)];
  }

  tail(q: TailQuery): LogRecord[] {
    return tailRecords(this.records(), q);
  }

  private socket(family: 4 | 6): dgram.Socket {
    let s = this.sockets[family];
    if (s === undefined) {
      s = dgram.createSocket(family === 6 ? 'udp6' : 'udp4');
      s.on('error', () => {}); // a send's error reaches its callback; nothing else matters here
      s.unref(); // logging never keeps a thread alive
      this.sockets[family] = s;
    }
    return s;
  }

  private drop(): void {
    this.dropped++;
    try {
      this.o.onDrop?.();
    } catch {
      // counting must not fail the write
    }
  }

  private send(r: LogRecord, to: Endpoint): void {
    if (this.inFlight >= this.o.queueSize()) {
      this.drop();
      return;
    }
    const buf = formatSyslog(r, { procid: process.pid, maxBytes: this.o.maxBytes ?? 8192 });
    this.inFlight++;
    try {
      this.socket(to.family).send(buf, to.port, to.host, (e) => {
        this.inFlight--;
        if (e !== null && e !== undefined) this.drop();
        else this.sent++;
      });
    } catch {
      this.inFlight--;
      this.drop();
    }
  }

  close(): void {
    for (const s of Object.values(this.sockets)) s.close();
    this.sockets = {};
  }
}
