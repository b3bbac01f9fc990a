/**
 * net/dnr.ts: the server's resolver (seed DNR, inventory §3), implementing net/dnr-types.ts
 * `Dnr` over real DNS with Node's c-ares resolver (`dns.promises.Resolver`: UDP, and TCP when an
 * answer comes back truncated).
 *
 * How a lookup goes: the name is checked (DNR_BAD_NAME), then the cache of its query type is
 * asked, then a lookup already in flight for the same type and name is joined, else the name
 * servers are asked in priority order (lowest first; the `dnr` block's `nameServers`, or the
 * OS's as Node reads them from /etc/resolv.conf when the list is empty), one c-ares channel per
 * server with one try each, `retries` more rounds over the list after the first. One query
 * waits at most `timeout / ((retries + 1) × servers)`, so every try fits, and the whole lookup
 * ends at `timeout` after its first query (the seed: "how long after the first query it is
 * closed"). A server that fails
 * (SERVFAIL, REFUSED, timeout, unreachable, a bad answer) hands over to the next; when every
 * try failed the lookup rejects with DNR_TEMP (`details.cause`: the last c-ares code).
 * NXDOMAIN and NODATA are answers: [] from the typed methods (ENOTFOUND / ENODATA from
 * `resolver()`, as mailauth expects), kept `negativeCacheTtl`.
 *
 * The cache: per query type, at most `cacheSize` answers (least recently used dropped first;
 * 0: nothing kept). An A/AAAA answer is kept for its smallest TTL, capped at `maxCacheTtl`;
 * Node gives no TTL for MX, TXT, PTR and the rest, so those are kept exactly `maxCacheTtl`
 * (default 300 s: an MX change is seen within five minutes). Node gives no SOA minimum with
 * NXDOMAIN either, hence the fixed `negativeCacheTtl`.
 *
 * `flush()` (the seed's EMPTYCACHE, `ctl dnr flush`) empties every Dnr cache of the process:
 * this thread's at once, the other threads' by a message on a BroadcastChannel every thread's
 * Dnr listens to (asynchronous: a thread flushes when its event loop next turns).
 *
 * Exports: `createDnr(options, hooks?)` → `Dnr` (hooks.clock: a test's clock for the cache),
 * `reverseName(ip)` (the in-addr.arpa / ip6.arpa name), `DNR_QUERY_TYPES`.
 * Throws (rejects): DNR_TEMP, DNR_BAD_NAME; nothing at creation.
 */
import dns from 'node:dns';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { domainToASCII } from 'node:url';
import { BroadcastChannel } from 'node:worker_threads';
import { PosternError } from '../errors.ts';
import type { DnrOptions } from '../config/options.ts';
import type { Dnr, MxRecord } from './dnr-types.ts';

export const DNR_QUERY_TYPES = ['A', 'AAAA', 'MX', 'TXT', 'PTR'] as const;
type QueryType = (typeof DNR_QUERY_TYPES)[number];

/** What a lookup found: records (as `dns.promises.resolve` gives them), or no such name/record. */
type Answer = { kind: 'records'; records: unknown } | { kind: 'nxdomain' } | { kind: 'nodata' };
interface Entry { expires: number; answer: Answer }

const FLUSH_CHANNEL = 'postern.dnr.flush';
/** Codes that mean the name itself is unusable: no other server would do better. */
const BAD_NAME_CODES = new Set(['EBADNAME', 'EBADQUERY', 'EBADSTR', 'EBADFAMILY']);

// ---- every Dnr of this thread, for flush -------------------------------------------------------

const live = new Set<WeakRef<DnrImpl>>();
let channel: BroadcastChannel | null = null;

function flushThisThread(): void {
  for (const ref of live) {
    const d = ref.deref();
    if (d === undefined) live.delete(ref);
    else d.flushLocal();
  }
}

function register(d: DnrImpl): void {
  live.add(new WeakRef(d));
  if (channel === null) {
    channel = new BroadcastChannel(FLUSH_CHANNEL);
    channel.onmessage = () => flushThisThread();
    channel.unref();
  }
}

// ---- names ---------------------------------------------------------------------------------------

function badName(name: string, why: string): PosternError {
  return new PosternError('DNR_BAD_NAME', `bad DNS name "${name.slice(0, 300)}": ${why}`, { name: name.slice(0, 300) });
}

/** Lower case, ASCII (IDNA), no trailing dot; DNR_BAD_NAME unless every label is 1..63 bytes of
 * letters, digits, hyphens and underscores (for _dmarc, _domainkey, _mta-sts) and the whole ≤ 253. */
function normalName(name: string): string {
  if (typeof name !== 'string') throw badName(String(name), 'not a string');
  let n = name.endsWith('.') ? name.slice(0, -1) : name;
  if (/[^\x00-\x7f]/.test(n)) {
    n = domainToASCII(n);
    if (n === '') throw badName(name, 'not a valid internationalized name');
  }
  n = n.toLowerCase();
  if (n.length === 0 || n.length > 253) throw badName(name, 'empty or longer than 253 characters');
  for (const label of n.split('.')) {
    if (label.length === 0 || label.length > 63) throw badName(name, 'a label is empty or longer than 63 characters');
    if (!/^[a-z0-9_-]+$/.test(label)) throw badName(name, 'a label has a character other than a letter, digit, hyphen or underscore');
  }
  return n;
}

/** The PTR name of an IP address (`4.3.2.1.in-addr.arpa`, 32 nibbles `….ip6.arpa`). */
export function reverseName(ip: string): string {
  const v = net.isIP(ip);
  if (v === 4) return `${ip.split('.').reverse().join('.')}.in-addr.arpa`;
  if (v !== 6) throw badName(ip, 'not an IP address');
  let s = ip.toLowerCase();
  const zone = s.indexOf('%');
  if (zone >= 0) s = s.slice(0, zone);
  if (s.includes('.')) { // an embedded IPv4 tail: two groups
    const at = s.lastIndexOf(':');
    const b = s.slice(at + 1).split('.').map(Number) as [number, number, number, number];
    s = `${s.slice(0, at + 1)}${((b[0] << 8) | b[1]).toString(16)}:${((b[2] << 8) | b[3]).toString(16)}`;
  }
  const [head = '', tail = ''] = s.includes('::') ? s.split('::') : [s, ''];
  const h = head === '' ? [] : head.split(':');
  const t = tail === '' ? [] : tail.split(':');
  const groups = [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return `${[...groups.map((g) => g.padStart(4, '0')).join('')].reverse().join('.')}.ip6.arpa`;
}

const stripDot = (s: string): string => (s.endsWith('.') ? s.slice(0, -1) : s).toLowerCase();

// ---- the resolver ----------------------------------------------------------------------------------

class DnrImpl implements Dnr {
  private readonly o: DnrOptions;
  private readonly clock: () => number;
  private readonly servers: Array<{ address: string; resolver: dns.promises.Resolver }>;
  private readonly perTryMs: number;
  private readonly caches = new Map<string, Map<string, Entry>>();
  private readonly inflight = new Map<string, Promise<Answer>>();

  constructor(o: DnrOptions, clock: () => number) {
    this.o = o;
    this.clock = clock;
    const byPriority = o.nameServers.map((s, i) => ({ ...s, i })).sort((x, y) => x.priority - y.priority || x.i - y.i);
    const addresses = byPriority.length > 0 ? byPriority.map((s) => s.address) : dns.getServers();
    this.perTryMs = Math.max(50, Math.floor(o.timeoutMs / ((o.retries + 1) * Math.max(1, addresses.length))));
    this.servers = addresses.map((address) => {
      const resolver = new dns.promises.Resolver({ timeout: this.perTryMs, tries: 1 });
      resolver.setServers([address]);
      return { address, resolver };
    });
  }

  async a(name: string): Promise<string[]> {
    return this.records<string[]>('A', name, []);
  }

  async aaaa(name: string): Promise<string[]> {
    return this.records<string[]>('AAAA', name, []);
  }

  async mx(name: string): Promise<MxRecord[]> {
    const list = await this.records<Array<{ exchange: string; priority: number }>>('MX', name, []);
    return list.map((m) => ({ exchange: stripDot(m.exchange), priority: m.priority })).sort((x, y) => x.priority - y.priority);
  }

  async txt(name: string): Promise<string[]> {
    return (await this.records<string[][]>('TXT', name, [])).map((chunks) => chunks.join(''));
  }

  async ptr(ip: string): Promise<string[]> {
    return (await this.records<string[]>('PTR', reverseName(ip), [])).map(stripDot);
  }

  async query(type: QueryType, name: string): Promise<string[]> {
    switch (type) {
      case 'A': return this.a(name);
      case 'AAAA': return this.aaaa(name);
      case 'MX': return (await this.mx(name)).map((m) => `${m.priority} ${m.exchange === '' ? '.' : m.exchange}`);
      case 'TXT': return (await this.records<string[][]>('TXT', name, [])).map((chunks) => chunks.map((c) => JSON.stringify(c)).join(' '));
      case 'PTR': return net.isIP(name) !== 0 ? this.ptr(name) : (await this.records<string[]>('PTR', name, [])).map(stripDot);
      default: throw new PosternError('DNR_BAD_NAME', `unknown query type ${String(type)}: expected ${DNR_QUERY_TYPES.join(', ')}`, { type });
    }
  }

  flush(): void {
    flushThisThread();
    const c = new BroadcastChannel(FLUSH_CHANNEL);
    c.postMessage('flush');
    c.close();
  }

  /** This instance's caches only (the flush message of another thread lands here). */
  flushLocal(): void {
    this.caches.clear();
  }

  resolver(): (name: string, rrtype: string) => Promise<unknown> {
    return async (name: string, rrtype = 'A') => {
      const type = String(rrtype).toUpperCase();
      let answer: Answer;
      try {
        answer = await this.lookup(type, normalName(name));
      } catch (e) {
        throw nodeError(e, type, name);
      }
      if (answer.kind === 'nxdomain') throw Object.assign(new Error(`query${type} ENOTFOUND ${name}`), { code: 'ENOTFOUND', hostname: name });
      if (answer.kind === 'nodata') throw Object.assign(new Error(`query${type} ENODATA ${name}`), { code: 'ENODATA', hostname: name });
      return structuredClone(answer.records);
    };
  }

  /** The records of a positive answer, `none` for NXDOMAIN/NODATA. */
  private async records<T>(type: string, name: string, none: T): Promise<T> {
    const answer = await this.lookup(type, normalName(name));
    return answer.kind === 'records' ? structuredClone(answer.records as T) : none;
  }

  private async lookup(type: string, name: string): Promise<Answer> {
    const cached = this.cacheGet(type, name);
    if (cached !== undefined) return cached;
    const key = `${type} ${name}`;
    let p = this.inflight.get(key);
    if (p === undefined) {
      p = this.ask(type, name).finally(() => this.inflight.delete(key));
      this.inflight.set(key, p);
    }
    return p;
  }

  private cacheGet(type: string, name: string): Answer | undefined {
    const m = this.caches.get(type);
    const e = m?.get(name);
    if (m === undefined || e === undefined) return undefined;
    m.delete(name);
    if (e.expires <= this.clock()) return undefined;
    m.set(name, e); // most recently used last
    return e.answer;
  }

  private cachePut(type: string, name: string, answer: Answer, ttlMs: number): void {
    if (this.o.cacheSize <= 0 || ttlMs <= 0) return;
    let m = this.caches.get(type);
    if (m === undefined) this.caches.set(type, (m = new Map()));
    m.delete(name);
    m.set(name, { expires: this.clock() + ttlMs, answer });
    while (m.size > this.o.cacheSize) m.delete(m.keys().next().value!);
  }

  /** Ask the servers in order, round after round, within the lookup's time bound. */
  private async ask(type: string, name: string): Promise<Answer> {
    const deadline = performance.now() + this.o.timeoutMs;
    let cause = this.servers.length === 0 ? 'ENOSERVERS' : 'ETIMEOUT';
    const tried: string[] = [];
    for (let round = 0; round <= this.o.retries; round++) {
      for (const s of this.servers) {
        const left = deadline - performance.now();
        if (left <= 0) return this.fail(type, name, 'ETIMEOUT', tried);
        try {
          const { records, ttlS } = await bounded(queryOne(s.resolver, type, name), Math.min(this.perTryMs, left));
          const answer: Answer = { kind: 'records', records };
          this.cachePut(type, name, answer, ttlS === undefined ? this.o.maxCacheTtlMs : Math.min(ttlS * 1000, this.o.maxCacheTtlMs));
          return answer;
        } catch (e) {
          const code = String((e as { code?: unknown }).code ?? 'EUNKNOWN');
          if (code === 'ENOTFOUND' || code === 'ENODATA') {
            const answer: Answer = { kind: code === 'ENOTFOUND' ? 'nxdomain' : 'nodata' };
            this.cachePut(type, name, answer, this.o.negativeCacheTtlMs);
            return answer;
          }
          if (BAD_NAME_CODES.has(code)) throw badName(name, code);
          cause = code;
          tried.push(`${s.address} ${code}`);
        }
      }
    }
    return this.fail(type, name, cause, tried);
  }

  private fail(type: string, name: string, cause: string, tried: string[]): never {
    throw new PosternError('DNR_TEMP', `DNS ${type} ${name}: no name server answered (${tried.join(', ') || cause})`, { type, name, cause, tried });
  }
}

const RESOLVE_TYPES = { A: 1, AAAA: 1, ANY: 1, CAA: 1, CNAME: 1, MX: 1, NAPTR: 1, NS: 1, PTR: 1, SOA: 1, SRV: 1, TLSA: 1, TXT: 1 } as const;

/** One query to one server: the records, and their TTL in seconds when Node gives it (A, AAAA). */
async function queryOne(r: dns.promises.Resolver, type: string, name: string): Promise<{ records: unknown; ttlS?: number }> {
  if (type === 'A' || type === 'AAAA') {
    const list = type === 'A' ? await r.resolve4(name, { ttl: true }) : await r.resolve6(name, { ttl: true });
    return { records: list.map((x) => x.address), ttlS: list.reduce((m, x) => Math.min(m, x.ttl), Number.POSITIVE_INFINITY) };
  }
  if (!(type in RESOLVE_TYPES)) throw Object.assign(new Error(`query type ${type} is not supported`), { code: 'EBADQUERY' });
  return { records: await r.resolve(name, type as 'MX') };
}

function bounded<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error('query timed out'), { code: 'ETIMEOUT' })), ms);
  });
  p.catch(() => {}); // a query that loses the race settles unobserved
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** A Dnr error as `dns.promises.resolve` would reject (mailauth reads `code`). */
function nodeError(e: unknown, type: string, name: string): Error {
  if (e instanceof PosternError && e.code === 'DNR_BAD_NAME') return Object.assign(new Error(e.message), { code: 'EBADNAME', hostname: name });
  if (e instanceof PosternError && e.code === 'DNR_TEMP') {
    const cause = String(e.details?.cause ?? 'ETIMEOUT');
    return Object.assign(new Error(`query${type} ${cause} ${name}: ${e.message}`), { code: cause, hostname: name });
  }
  return e instanceof Error ? e : new Error(String(e));
}

/** The resolver of the resolved Server `dnr` block (`ServiceOptions.dnr`, `ResolvedConfig.dnr`);
 * any thread builds its own. `hooks.clock` (ms) is a test's clock for the cache's expiry. */
export function createDnr(options: DnrOptions, hooks: { clock?: () => number } = {}): Dnr {
  const d = new DnrImpl(options, hooks.clock ?? (() => performance.now()));
  register(d);
  return d;
}
