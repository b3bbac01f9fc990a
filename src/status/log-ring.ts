/**
 * status/log-ring.ts: the main thread's recent log records, kept for `log.tail` (the admin
 * registry; WebAdmin's logs page): a bounded ring of the pino JSON lines the main thread's root
 * logger writes (log.ts `tapLog`): supervision (service starts, stops, crashes and restarts),
 * reloads, config saves, the control socket. The connection threads' own lines go to stdout
 * only (and to the Log service where one runs), not here.
 *
 * `tail({service, level, lines})`: the last `lines` records (newest last) at `level` or worse
 * (pino's names: trace debug info warn error fatal), of `service` when given (the record's
 * `service` field). A line longer than MAX_LINE is kept cut (and then not parsed: shown as text).
 *
 * Exports: `LogRing`, `LogRecord`, `LOG_LEVELS`, `RING_SIZE`. Throws nothing.
 */

export const RING_SIZE = 2000;
const MAX_LINE = 8192;
export const LOG_LEVELS = Object.freeze(['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const);
const LEVEL_NUM: Readonly<Record<string, number>> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 };

export interface LogRecord {
  time: number;
  level: string;
  service: string | null;
  msg: string;
  /** The record's other fields as JSON (pid, hostname and the above left out). */
  fields: string;
}

function parse(line: string): LogRecord {
  try {
    const o = JSON.parse(line) as Record<string, unknown>;
    const { time, level, service, msg, pid: _pid, hostname: _h, ...rest } = o;
    const lv = Object.entries(LEVEL_NUM).find(([, n]) => n === level)?.[0] ?? String(level);
    return { time: typeof time === 'number' ? time : 0, level: lv, service: typeof service === 'string' ? service : null, msg: typeof msg === 'string' ? msg : '', fields: Object.keys(rest).length === 0 ? '' : JSON.stringify(rest).slice(0, 2000) };
  } catch {
    return { time: 0, level: 'info', service: null, msg: line.slice(0, 2000), fields: '' };
  }
}

export class LogRing {
  private readonly lines: string[] = [];
  private next = 0;
  private readonly size: number;
  constructor(size = RING_SIZE) {
    this.size = size;
  }

  /** Keep one written chunk (one or more JSON lines). */
  push(chunk: string): void {
    for (const l of chunk.split('\n')) {
      if (l === '') continue;
      const line = l.length > MAX_LINE ? l.slice(0, MAX_LINE) : l;
      if (this.lines.length < this.size) this.lines.push(line);
      else this.lines[this.next] = line;
      this.next = (this.next + 1) % this.size;
    }
  }

  /** The last `lines` records matching, oldest first. */
  tail(o: { service?: string; level?: string; lines: number }): LogRecord[] {
    const min = LEVEL_NUM[o.level ?? 'trace'] ?? 0;
    const out: LogRecord[] = [];
    const n = this.lines.length;
    for (let i = 0; i < n && out.length < o.lines; i++) {
      const line = this.lines[(this.next - 1 - i + n * 2) % n]!;
      const r = parse(line);
      if ((LEVEL_NUM[r.level] ?? 0) < min) continue;
      if (o.service !== undefined && r.service !== o.service) continue;
      out.push(r);
    }
    return out.reverse();
  }
}
