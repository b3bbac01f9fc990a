/**
 * service/report.ts: the Report service's counters (seed names, inventory §9) and the shape of
 * its registry command `report.query`: the contract between the services that count
 * (`SessionContext.count(name, by, account)`), the Report service that samples them
 * (src/protocols/report/), /metrics (status/metrics.ts exports them under the same names) and
 * WebAdmin's charts (which read `report.query`).
 *
 * Every counter is an event count since the service started (summed over its threads by the
 * service host, shown on /status under the service's `counters`), except the gauge QUEUE_Size
 * (the queue's length at the sample, from the store). Connection and login counters are counted
 * for every TCP service by the connection thread (workers/conn-thread.ts) with the service's
 * prefix (`SERVICE_PREFIX`); the others by the protocol that sees the event.
 *
 * Exports: `REPORT_COUNTERS`, `ReportCounter`, `ReportCounterName`, `SERVICE_PREFIX`,
 * `connectionCounter(service)`, `loginCounter(service, ok)`, `isReportCounter(name)`,
 * `ReportScope`, `ReportQueryArgs`, `ReportSeries`, `ReportQueryResult`, `ReportSampleResult`.
 * Throws nothing.
 */

/** The counters' prefix per TCP service (the seed's module names). */
export const SERVICE_PREFIX: Readonly<Record<string, string>> = Object.freeze({
  smtpIncoming: 'SMTP',
  pop3: 'POP3',
  imap: 'IMAP',
  webmail: 'WEBMAIL',
  webadmin: 'WEBADMIN',
  cli: 'CLI',
  ftpBackup: 'FTPBACKUP',
  pop3Proxy: 'PROXY_POP3',
  imapProxy: 'PROXY_IMAP',
  webmailProxy: 'PROXY_WEBMAIL',
});

export interface ReportCounter {
  readonly name: string;
  /** counter: events (a sample stores the events since the previous sample); gauge: a level
   * (a sample stores the value at the sample). */
  readonly kind: 'counter' | 'gauge';
  /** The service that counts it ('store': the queue). */
  readonly service: string;
  readonly help: string;
  /** Counted per domain and per account (DomainEnable, DomainObjectEnable). */
  readonly scoped: boolean;
}

const c = (name: string, service: string, help: string, scoped = false): ReportCounter => Object.freeze({ name, kind: 'counter', service, help, scoped });

function perService(): ReportCounter[] {
  const out: ReportCounter[] = [];
  for (const [service, p] of Object.entries(SERVICE_PREFIX)) {
    out.push(c(`${p}_InboundConnection`, service, `Connections admitted by ${service}`));
    if (service === 'smtpIncoming') {
      out.push(c('SMTP_InboundConnectionAuthenticated', service, 'SMTP AUTH successes', true));
      out.push(c('SMTP_InboundConnectionAuthenticationFailed', service, 'SMTP AUTH failures'));
    } else {
      out.push(c(`${p}_LoginSuccess`, service, `Successful logins on ${service}`, true));
      out.push(c(`${p}_LoginFailed`, service, `Failed logins on ${service}`));
    }
  }
  return out;
}

/** Every counter the Report service samples, in chart order. */
export const REPORT_COUNTERS: readonly ReportCounter[] = Object.freeze([
  ...perService(),
  c('SMTP_InboundMessage', 'smtpIncoming', 'Messages accepted by SMTP, queued or delivered at receipt (per recipient account when scoped)', true),
  c('SMTP_InboundMessageBytes', 'smtpIncoming', 'Bytes of the messages accepted by SMTP', true),
  c('SMTP_InboundMessageTOcommandsAccepted', 'smtpIncoming', 'RCPT TO commands accepted'),
  c('SMTP_InboundMessageTOcommandsRejected', 'smtpIncoming', 'RCPT TO commands refused'),
  c('IMAP_AppendRequests', 'imap', 'Messages appended by IMAP APPEND', true),
  c('WEBMAIL_Sessions', 'webmail', 'WebMail sessions opened (logins)', true),
  c('SMTP_OutboundConnection', 'smtpOutgoing', 'SMTP connections opened to remote hosts'),
  c('SMTP_OutboundMessage', 'smtpOutgoing', 'Messages a remote host accepted (for at least one recipient)'),
  Object.freeze({ name: 'QUEUE_Size', kind: 'gauge', service: 'store', help: 'Messages in the queue', scoped: false }),
] as ReportCounter[]);

export type ReportCounterName = string;

const byName = new Map(REPORT_COUNTERS.map((x) => [x.name, x]));

/** The counter of that name, or undefined. */
export function reportCounter(name: string): ReportCounter | undefined {
  return byName.get(name);
}

export function isReportCounter(name: string): boolean {
  return byName.has(name);
}

/** `<P>_InboundConnection` for a TCP service with a prefix; undefined otherwise. */
export function connectionCounter(service: string): string | undefined {
  const p = SERVICE_PREFIX[service];
  return p === undefined ? undefined : `${p}_InboundConnection`;
}

/** The login counter of a service's login outcome; undefined: none. */
export function loginCounter(service: string, ok: boolean): string | undefined {
  const p = SERVICE_PREFIX[service];
  if (p === undefined) return undefined;
  if (p === 'SMTP') return ok ? 'SMTP_InboundConnectionAuthenticated' : 'SMTP_InboundConnectionAuthenticationFailed';
  return ok ? `${p}_LoginSuccess` : `${p}_LoginFailed`;
}

/** `server` (this node), `domain:<name>`, `account:<user@domain>`, `node:<hostname>` (a node
 * that sends its samples to this Report service), `other`-keys: `domain:other`, `account:other`. */
export type ReportScope = string;

/** `report.query` arguments (all optional). */
export interface ReportQueryArgs {
  /** One counter; absent: every counter. */
  counter?: string;
  /** Default `server`. */
  scope?: ReportScope;
  /** ms since the epoch; default `to` − 24 h. */
  from?: number;
  /** ms since the epoch (exclusive); default now. */
  to?: number;
  /** Bucket width in seconds; default 60 (raised so that a series has at most 10,000 points). */
  step?: number;
}

export interface ReportSeries {
  counter: string;
  kind: 'counter' | 'gauge';
  /** [bucket start (ms since the epoch), value]: a counter's events in the bucket (summed over
   * its samples); a gauge's mean over its samples; null: no sample in the bucket (for a domain
   * or an account: no sample naming it). */
  points: Array<[number, number | null]>;
}

/** `report.query`'s result. */
export interface ReportQueryResult {
  scope: ReportScope;
  from: number;
  to: number;
  stepSec: number;
  /** Samples read in [from, to). */
  samples: number;
  series: ReportSeries[];
  /** Scope keys met in the samples read (at most 10,000 of each): `nodes` for a server,
   * cluster or node query; `domains` and `accounts` for a domain or account query (the
   * samples that name it). A scope picker lists domains and accounts with `domain.list` and
   * `account.list`. */
  scopes: { domains: string[]; accounts: string[]; nodes: string[] };
}

/** `report.sample`'s result: the sample written now. */
export interface ReportSampleResult {
  t: number;
  /** Non-zero server counters of the sample. */
  counters: Record<string, number>;
}
