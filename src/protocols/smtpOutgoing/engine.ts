/**
 * protocols/smtpOutgoing/engine.ts: the destinations of one smtpOutgoing thread and their
 * connections. A job is one message for the recipients of one destination (route.ts: the same
 * recipient domain by MX, or the same smart host, under the same TLS demand; a message asking
 * for REQUIRETLS is its own destination). Jobs wait in their destination's queue; up to
 * `maxConnectionsPerDomain` connections per destination work through it, each carrying
 * messages in turn (RSET after a failed one) up to `maxMessagesPerConnection`, then a new one is
 * opened. A destination's hosts (targets.ts) are tried in order until one connects; when none
 * does, every job waiting for that destination gets the same outcome (a temporary failure, or
 * the permanent one DNS gave: null MX, loop, no such domain). A REQUIRETLS message that could
 * not have verified TLS fails with 5.7.30 (RFC 8689 §4.2.1).
 *
 * Each message goes out as: this server's `Received:` field, the DKIM signature when a signer
 * gives one, then the queued message.
 *
 * Exports: `Engine` (`submit`, `stop`, `idle`, `counts`), `Job`, `Signer`, `EngineDeps`. Throws
 * nothing: every job's `done` is called exactly once.
 */
import type { Logger } from '../../log.ts';
import type { QueueEnvelope } from '../../store/queue-record.ts';
import type { RcptOutcome, RelayRcpt } from '../../store/relay-types.ts';
import { ConnectFailure, openConnection, type Connection, type Target } from './deliver.ts';
import type { Destination } from './route.ts';
import { targetsFor, type TargetDeps } from './targets.ts';
import { receivedField } from './received.ts';

/** DKIM signing (out-auth): the header lines to put above the message, or null (no key for the
 * sender's domain). */
export type Signer = (from: string, message: Buffer) => Promise<string | null>;

export interface Job {
  id: string;
  env: QueueEnvelope;
  body: Buffer;
  rcpts: RelayRcpt[];
  dest: Destination;
  requireTls: boolean;
  /** Called once, with one outcome per recipient of `rcpts`; [] : not tried (the engine stopped). */
  done(outcomes: RcptOutcome[]): void;
}

export interface EngineDeps extends TargetDeps {
  log: Logger;
  sign?: Signer;
  /** A destination accepted a message (its waiting mail may be tried at once). */
  accepted?(dest: Destination): void;
  /** Count an event of the service (SMTP_OutboundConnection, SMTP_OutboundMessage: service/report.ts). */
  count?(event: string): void;
}

interface DestQueue {
  jobs: Job[];
  active: number;
}

export class Engine {
  private readonly dests = new Map<string, DestQueue>();
  private readonly d: EngineDeps;
  private inFlight = 0;
  private stopping = false;
  private idleWaiters: Array<() => void> = [];
  readonly counts = { connections: 0, messages: 0, delivered: 0, failed: 0, temp: 0 };

  constructor(d: EngineDeps) {
    this.d = d;
  }

  /** Jobs not yet done. */
  get pending(): number {
    return this.inFlight;
  }

  submit(job: Job): void {
    if (this.stopping) {
      job.done([]);
      return;
    }
    const key = `${job.dest.key}${job.requireTls ? ':requiretls' : ''}`;
    let q = this.dests.get(key);
    if (q === undefined) {
      q = { jobs: [], active: 0 };
      this.dests.set(key, q);
    }
    this.inFlight++;
    const done = job.done;
    let called = false;
    q.jobs.push({
      ...job,
      done: (o) => {
        if (called) return;
        called = true;
        for (const x of o) this.counts[x.status === 'delivered' ? 'delivered' : x.status === 'failed' ? 'failed' : 'temp']++;
        try {
          done(o);
        } finally {
          this.inFlight--;
          if (this.inFlight === 0) for (const w of this.idleWaiters.splice(0)) w();
        }
      },
    });
    this.pump(key, q);
  }

  /** Stop: jobs not started yet are handed back at once, untried (`done([])`); connections
   * finish the message in hand and close. */
  stop(): void {
    this.stopping = true;
    for (const q of this.dests.values()) for (const j of q.jobs.splice(0)) j.done([]);
  }

  /** Resolves when every submitted job is done. */
  idle(): Promise<void> {
    return this.inFlight === 0 ? Promise.resolve() : new Promise((r) => this.idleWaiters.push(r));
  }

  private pump(key: string, q: DestQueue): void {
    while (q.active < this.d.opts.maxConnectionsPerDomain && q.active < q.jobs.length) {
      q.active++;
      void this.worker(q).finally(() => {
        q.active--;
        if (q.jobs.length > 0) this.pump(key, q);
        else if (q.active === 0) this.dests.delete(key);
      });
    }
  }

  private async worker(q: DestQueue): Promise<void> {
    const first = q.jobs[0];
    if (first === undefined) return;
    const tr = await targetsFor(first.dest, first.requireTls, this.d).catch((e: unknown) => ({ ok: false as const, status: 'temp' as const, status3464: '4.4.3', why: `451 4.4.3 ${e instanceof Error ? e.message : String(e)}` }));
    if (!tr.ok) {
      for (const j of q.jobs.splice(0)) j.done(j.rcpts.map((r) => ({ index: r.index, status: tr.status, why: tr.why, status3464: tr.status3464 })));
      return;
    }
    let conn: Connection | null = null;
    try {
      while (q.jobs.length > 0) {
        if (conn === null || conn.broken || conn.sent >= this.d.opts.maxMessagesPerConnection) {
          conn?.close();
          conn = null;
          try {
            conn = await this.connect(tr.targets);
          } catch (e) {
            const f = e instanceof ConnectFailure ? e : new ConnectFailure(`451 4.4.1 ${String(e)}`);
            for (const j of q.jobs.splice(0)) {
              const rt = j.requireTls && f.tls;
              j.done(j.rcpts.map((r) => ({ index: r.index, status: rt ? 'failed' : f.status, why: rt ? `550 5.7.30 REQUIRETLS: no verified TLS: ${f.message}` : f.message, status3464: rt ? '5.7.30' : f.status3464 })));
            }
            return;
          }
        }
        const job = q.jobs.shift(); // another connection of this destination may have taken the last one while this one connected
        if (job === undefined) break;
        await this.sendJob(conn, job);
      }
    } finally {
      conn?.close();
    }
  }

  private async connect(targets: Target[]): Promise<Connection> {
    let last: ConnectFailure | null = null;
    let anyTls: ConnectFailure | null = null;
    let anyOther: ConnectFailure | null = null;
    for (const t of targets) {
      try {
        const c = await openConnection(t);
        this.counts.connections++;
        this.d.count?.('SMTP_OutboundConnection');
        return c;
      } catch (e) {
        last = e instanceof ConnectFailure ? e : new ConnectFailure(`451 4.4.1 ${t.name} [${t.ip}]: ${String(e)}`);
        if (last.tls) anyTls ??= last;
        else anyOther ??= last;
        this.d.log.info({ host: t.name, ip: t.ip, port: t.port, why: last.message }, 'smtpOutgoing: could not connect; trying the next host');
      }
    }
    // a TLS failure is only the answer when every host failed on TLS
    throw (anyOther !== null ? anyOther : anyTls) ?? last ?? new ConnectFailure('451 4.4.4 no host to try');
  }

  private async sendJob(conn: Connection, job: Job): Promise<void> {
    try {
      const received = receivedField(job.id, job.env, job.rcpts.length === 1 ? job.rcpts[0]!.to : null);
      const signed = this.d.sign !== undefined ? await this.d.sign(job.env.from, job.body).catch((e: unknown) => {
        this.d.log.warn({ err: e, id: job.id }, 'smtpOutgoing: DKIM signing failed; sent unsigned');
        return null;
      }) : null;
      const data = Buffer.concat([Buffer.from(received + (signed ?? ''), 'utf8'), job.body]);
      const results = await conn.send({
        from: job.env.from, rcpts: job.rcpts.map((r) => r.to), data, eightBit: job.env.body !== '7BIT', smtpUtf8: job.env.utf8, requireTls: job.requireTls,
        dsn: job.env.dsn === undefined && job.rcpts.every((r) => job.env.rcpts[r.index]?.dsn === undefined) ? undefined : {
          ret: job.env.dsn?.ret ?? null, envid: job.env.dsn?.envid ?? null,
          notify: job.env.rcpts[job.rcpts[0]!.index]?.dsn?.notify ?? null, orcpt: job.env.rcpts[job.rcpts[0]!.index]?.dsn?.orcpt ?? null,
        },
      });
      this.counts.messages++;
      const remoteMta = `dns; ${conn.target.name}`;
      const outcomes: RcptOutcome[] = job.rcpts.map((r, i) => ({ index: r.index, status: results[i]!.status, why: results[i]!.why, status3464: results[i]!.status3464, remoteMta }));
      if (outcomes.some((o) => o.status === 'delivered')) {
        this.d.count?.('SMTP_OutboundMessage');
        this.d.accepted?.(job.dest);
      }
      job.done(outcomes);
    } catch (e) {
      job.done(job.rcpts.map((r) => ({ index: r.index, status: 'temp', why: `451 4.3.0 ${e instanceof Error ? e.message : String(e)}`, status3464: '4.3.0' })));
    }
  }
}
