/**
 * net/syslog.ts: log records on the wire: the seed's log levels and modules, and the syslog
 * datagrams that carry them (RFC 5424 written; RFC 5424 and RFC 3164 read).
 *
 * Levels (the seed's five categories): critical, error, warning, info, protocol. A `logLevel`
 * is written as a word (that level and every more severe one: `warning` = critical + error +
 * warning) or as the seed's number, a bitmask (critical 1, error 2, warning 4, info 8,
 * protocol 16: `15` = all but protocol). pino's levels map onto them: fatal → critical,
 * error → error, warn → warning, info → info, debug and trace → protocol. Syslog severities
 * too: 0–2 → critical, 3 error, 4 warning, 5–6 info, 7 protocol; written back as 2, 3, 4, 6, 7.
 *
 * Postern's own records are RFC 5424 datagrams with APP-NAME `postern`, PROCID the pid, MSGID
 * the module (SMTP-IN, POP3, …), facility mail. A foreign datagram's module is its APP-NAME
 * (RFC 5424) or TAG (RFC 3164), e.g. `logger -t mytag` → `mytag`.
 *
 * Exports: `LOG_LEVELS`, `LogLevelName`, `LEVEL_BITS`, `ALL_LEVELS`, `LOG_LEVEL_CHOICES`,
 * `levelMask(written)`, `pinoToLevel(n)`, `minPinoLevel(mask)`, `levelFromSeverity(s)`,
 * `MODULES`, `moduleOf(service)`, `LogRecord`, `formatSyslog(record, o)`, `parseSyslog(buf)`,
 * `FACILITY_MAIL`. Throws nothing (a datagram that is not syslog parses to null).
 */

export const LOG_LEVELS = ['critical', 'error', 'warning', 'info', 'protocol'] as const;
export type LogLevelName = (typeof LOG_LEVELS)[number];
export const LEVEL_BITS: Readonly<Record<LogLevelName, number>> = { critical: 1, error: 2, warning: 4, info: 8, protocol: 16 };
export const ALL_LEVELS = 31;
/** What a `logLevel` attribute accepts: a level word, or the seed's bitmask 0–31. */
export const LOG_LEVEL_CHOICES: readonly string[] = [...LOG_LEVELS, ...Array.from({ length: 32 }, (_, i) => String(i))];

/** The bitmask of a written `logLevel` (a word: it and every more severe level). */
export function levelMask(written: string | number): number {
  const n = typeof written === 'number' ? written : /^\d+$/.test(written) ? Number(written) : NaN;
  if (Number.isInteger(n)) return n & ALL_LEVELS;
  const i = LOG_LEVELS.indexOf(String(written).toLowerCase() as LogLevelName);
  return i < 0 ? LEVEL_BITS.critical | LEVEL_BITS.error | LEVEL_BITS.warning : (1 << (i + 1)) - 1;
}

/** pino's numeric level → the seed's level. */
export function pinoToLevel(n: number): LogLevelName {
  return n >= 60 ? 'critical' : n >= 50 ? 'error' : n >= 40 ? 'warning' : n >= 30 ? 'info' : 'protocol';
}

/** The lowest pino level a mask lets through (Infinity: none). */
export function minPinoLevel(mask: number): number {
  if ((mask & LEVEL_BITS.protocol) !== 0) return 10;
  if ((mask & LEVEL_BITS.info) !== 0) return 30;
  if ((mask & LEVEL_BITS.warning) !== 0) return 40;
  if ((mask & LEVEL_BITS.error) !== 0) return 50;
  if ((mask & LEVEL_BITS.critical) !== 0) return 60;
  return Infinity;
}

export function levelFromSeverity(s: number): LogLevelName {
  return s <= 2 ? 'critical' : s === 3 ? 'error' : s === 4 ? 'warning' : s <= 6 ? 'info' : 'protocol';
}
const SEVERITY: Readonly<Record<LogLevelName, number>> = { critical: 2, error: 3, warning: 4, info: 6, protocol: 7 };

/** Syslog facility `mail` (LOG_MAIL). */
export const FACILITY_MAIL = 2;

/** The seed's module names, by service (others: the service's name in capitals). */
export const MODULES: Readonly<Record<string, string>> = {
  smtpIncoming: 'SMTP-IN', smtpOutgoing: 'SMTP-OUT', imap: 'IMAP', pop3: 'POP3', webmail: 'WEBMAIL', webadmin: 'WEBADMIN',
  dnr: 'DNR', rpop: 'RPOP', cli: 'CLI', processing: 'PROCESSING', log: 'LOG', report: 'REPORTING', ftpBackup: 'FTP-BACKUP',
  pop3Proxy: 'PROXY_POP3', imapProxy: 'PROXY_IMAP', webmailProxy: 'PROXY_WEBMAIL', userdb: 'USERDB',
};

export function moduleOf(service: string | undefined): string {
  if (service === undefined || service === '') return 'SERVER';
  return MODULES[service] ?? service.toUpperCase().slice(0, 32);
}

export interface LogRecord {
  /** ms since the epoch. */
  time: number;
  level: LogLevelName;
  hostname: string;
  module: string;
  msg: string;
  /** The Postern service it came from, when known (log.tail filters by it). */
  service?: string;
}

/** Printable US-ASCII without spaces, as RFC 5424 header fields must be; `-` when empty. */
function field(s: string, max: number): string {
  const t = s.replace(/[^\x21-\x7e]/g, '').slice(0, max);
  return t === '' ? '-' : t;
}

/** An RFC 5424 datagram (facility mail unless told), at most `maxBytes` (the message is cut). */
export function formatSyslog(r: LogRecord, o: { app?: string; procid?: number | string; facility?: number; maxBytes?: number } = {}): Buffer {
  const pri = (o.facility ?? FACILITY_MAIL) * 8 + SEVERITY[r.level];
  const head = `<${pri}>1 ${new Date(r.time).toISOString()} ${field(r.hostname, 255)} ${field(o.app ?? 'postern', 48)} ${field(String(o.procid ?? '-'), 128)} ${field(r.module, 32)} - `;
  const max = o.maxBytes ?? 8192;
  const msg = Buffer.from(r.msg.replace(/[\r\n]+/g, ' '), 'utf8');
  const h = Buffer.from(head, 'ascii');
  return Buffer.concat([h, msg.subarray(0, Math.max(0, max - h.length))]);
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** A syslog datagram (RFC 5424 or RFC 3164) → a record; null when it is neither. `now`: the
 * time of a record whose timestamp is missing or unreadable; `from`: its hostname then. */
export function parseSyslog(buf: Buffer, now = Date.now(), from = '-'): LogRecord | null {
  let text = buf.toString('utf8');
  const m = /^<(\d{1,3})>/.exec(text);
  if (m === null) return null;
  const pri = Number(m[1]);
  if (pri > 191) return null;
  const level = levelFromSeverity(pri & 7);
  text = text.slice(m[0].length);
  if (text.startsWith('1 ')) return parse5424(text.slice(2), level, now, from);
  return parse3164(text, level, now, from);
}

function clean(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/^\uFEFF/, '').replace(/[\x00-\x08\x0a-\x1f\x7f]+/g, ' ').trimEnd();
}

function parse5424(text: string, level: LogRecord['level'], now: number, from: string): LogRecord | null {
  const parts: string[] = [];
  let rest = text;
  for (let i = 0; i < 5; i++) {
    const sp = rest.indexOf(' ');
    if (sp <= 0) return null;
    parts.push(rest.slice(0, sp));
    rest = rest.slice(sp + 1);
  }
  const [ts, host, app, , msgid] = parts as [string, string, string, string, string];
  // structured data: '-' or [..][..] (']' '"' '\' escaped with '\')
  if (rest.startsWith('-')) rest = rest.slice(1);
  else if (rest.startsWith('[')) {
    let i = 0;
    let inQuote = false;
    while (i < rest.length) {
      const c = rest[i]!;
      if (c === '\\') i += 2;
      else {
        if (c === '"') inQuote = !inQuote;
        i++;
        if (c === ']' && !inQuote && rest[i] !== '[') break;
      }
    }
    rest = rest.slice(i);
  } else return null;
  if (rest.startsWith(' ')) rest = rest.slice(1);
  const t = ts === '-' ? NaN : Date.parse(ts);
  const module = app === 'postern' && msgid !== '-' ? msgid : app === '-' ? '-' : app;
  return { time: Number.isFinite(t) ? t : now, level, hostname: host === '-' ? from : host, module, msg: clean(rest) };
}

function parse3164(text: string, level: LogRecord['level'], now: number, from: string): LogRecord {
  let time = now;
  let rest = text;
  const ts = /^([A-Z][a-z]{2}) ([ \d]\d) (\d\d):(\d\d):(\d\d) /.exec(rest);
  let host = from;
  if (ts !== null) {
    const month = MONTHS.indexOf(ts[1]!);
    if (month >= 0) {
      const d = new Date(now);
      const t = new Date(d.getFullYear(), month, Number(ts[2]!.trim()), Number(ts[3]), Number(ts[4]), Number(ts[5]));
      // a December record read in January is last year's
      if (t.getTime() - now > 86_400_000 * 30) t.setFullYear(t.getFullYear() - 1);
      time = t.getTime();
    }
    rest = rest.slice(ts[0].length);
    const sp = rest.indexOf(' ');
    // HOSTNAME then TAG: a word followed by a word ending in ':' or '[pid]:'
    if (sp > 0 && /^[^\s:[]+(\[\d+\])?: /.test(rest.slice(sp + 1))) {
      host = rest.slice(0, sp);
      rest = rest.slice(sp + 1);
    }
  }
  const tag = /^([^\s:[]{1,48})(\[[^\]]*\])?: ?/.exec(rest);
  let module = '-';
  if (tag !== null) {
    module = tag[1]!;
    rest = rest.slice(tag[0].length);
  }
  return { time, level, hostname: host, module, msg: clean(rest) };
}
