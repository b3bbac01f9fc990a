/**
 * protocols/report/samples.ts: the Report service's durable samples, under `<dataDir>/report/`.
 *
 * One file per UTC day, `YYYY-MM-DD.jsonl`, one JSON line per sample (`Sample`), appended and
 * fsynced per sample: a kill -9 loses at most the sample being written, whose torn line is cut
 * off when the file is next opened for appending (and skipped by readers meanwhile). A day
 * that is over is compacted once into `YYYY-MM-DD.c.jsonl` (written to a temporary file,
 * fsynced, renamed over, then the day's append file is removed): its torn or unparsable lines
 * dropped and the samples of one minute merged (counters summed, gauges: the last). Pruning
 * deletes the days wholly older than the cutoff (now − reportingInterval); readers also skip
 * samples older than it, so lowering reportingInterval hides and then deletes them.
 * One writer: the main thread's Report collector (collector.ts); appends are serialised.
 *
 * Exports: `Sample`, `Counts`, `SampleStore` (append, scan, read, compact, prune, close),
 * `dayOf(t)`, `mergeSamples(samples, gauges)`. Throws the file system's errors (ENOSPC, EACCES …)
 * from `append`, `prune`, `compact`; `scan` and `read` skip what they cannot parse.
 */
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';

/** Counter values by name. */
export type Counts = Record<string, number>;

export interface Sample {
  /** ms since the epoch. */
  t: number;
  /** This node's counters (counters: events since the previous sample; gauges: the level). */
  c: Counts;
  /** Per domain (DomainEnable), per account (DomainObjectEnable), per reporting node. */
  d?: Record<string, Counts>;
  a?: Record<string, Counts>;
  n?: Record<string, Counts>;
}

const DAY_MS = 86_400_000;
const DAY_FILE = /^(\d{4}-\d{2}-\d{2})(\.c)?\.jsonl$/;

/** The UTC day `YYYY-MM-DD` of `t`. */
export function dayOf(t: number): string {
  return new Date(t).toISOString().slice(0, 10);
}

function dayStart(day: string): number {
  return Date.parse(`${day}T00:00:00.000Z`);
}

function isSample(v: unknown): v is Sample {
  return v !== null && typeof v === 'object' && typeof (v as Sample).t === 'number' && Number.isFinite((v as Sample).t)
    && (v as Sample).c !== null && typeof (v as Sample).c === 'object';
}

/** One line's sample; null for a torn line (kill -9 mid-append) or garbage. */
function parseLine(line: string): Sample | null {
  try {
    const v: unknown = JSON.parse(line);
    return isSample(v) ? v : null;
  } catch {
    return null;
  }
}

function addInto(into: Counts, from: Counts, gauges: ReadonlySet<string>): void {
  for (const [k, v] of Object.entries(from)) into[k] = gauges.has(k) ? v : (into[k] ?? 0) + v;
}

function mergeScoped(into: Record<string, Counts> | undefined, from: Record<string, Counts> | undefined, gauges: ReadonlySet<string>): Record<string, Counts> | undefined {
  if (from === undefined) return into;
  const out = into ?? {};
  for (const [key, counts] of Object.entries(from)) addInto((out[key] ??= {}), counts, gauges);
  return out;
}

/** Merge the samples of each minute (in time order): counters summed, gauges the last. */
export function mergeSamples(samples: readonly Sample[], gauges: ReadonlySet<string>): Sample[] {
  const byMinute = new Map<number, Sample>();
  for (const s of [...samples].sort((a, b) => a.t - b.t)) {
    const m = Math.floor(s.t / 60_000) * 60_000;
    const cur = byMinute.get(m);
    if (cur === undefined) {
      byMinute.set(m, { t: s.t, c: { ...s.c }, ...(s.d === undefined ? {} : { d: mergeScoped(undefined, s.d, gauges)! }), ...(s.a === undefined ? {} : { a: mergeScoped(undefined, s.a, gauges)! }), ...(s.n === undefined ? {} : { n: mergeScoped(undefined, s.n, gauges)! }) });
      continue;
    }
    cur.t = s.t;
    addInto(cur.c, s.c, gauges);
    const d = mergeScoped(cur.d, s.d, gauges);
    const a = mergeScoped(cur.a, s.a, gauges);
    const n = mergeScoped(cur.n, s.n, gauges);
    if (d !== undefined) cur.d = d;
    if (a !== undefined) cur.a = a;
    if (n !== undefined) cur.n = n;
  }
  return [...byMinute.values()];
}

export class SampleStore {
  readonly dir: string;
  private readonly gauges: ReadonlySet<string>;
  /** The day file open for appending, and its day. */
  private fh: fs.promises.FileHandle | null = null;
  private fhDay = '';
  /** Appends, pruning and compaction run one at a time. */
  private chain: Promise<unknown> = Promise.resolve();

  constructor(dir: string, gauges: ReadonlySet<string>) {
    this.dir = dir;
    this.gauges = gauges;
  }

  private serial<T>(f: () => Promise<T>): Promise<T> {
    const p = this.chain.then(f, f);
    this.chain = p.catch(() => {});
    return p;
  }

  /** Append one sample and fsync it. */
  append(s: Sample): Promise<void> {
    return this.serial(async () => {
      const day = dayOf(s.t);
      if (this.fh === null || this.fhDay !== day) await this.openDay(day);
      await this.fh!.appendFile(`${JSON.stringify(s)}\n`);
      await this.fh!.datasync();
    });
  }

  /** Open `day`'s file for appending, cutting a torn last line off first. */
  private async openDay(day: string): Promise<void> {
    await this.closeFile();
    await fs.promises.mkdir(this.dir, { recursive: true, mode: 0o700 });
    const file = path.join(this.dir, `${day}.jsonl`);
    const fh = await fs.promises.open(file, 'a+', 0o600);
    try {
      const { size } = await fh.stat();
      if (size > 0) {
        const tail = Buffer.alloc(Math.min(size, 65_536));
        await fh.read(tail, 0, tail.length, size - tail.length);
        if (tail[tail.length - 1] !== 0x0a) {
          const nl = tail.lastIndexOf(0x0a);
          // a line longer than the tail read: cut the whole file (never seen: lines are small)
          await fh.truncate(nl < 0 ? (size > tail.length ? size - tail.length : 0) : size - tail.length + nl + 1);
          await fh.datasync();
        }
      }
    } catch (e) {
      await fh.close();
      throw e;
    }
    this.fh = fh;
    this.fhDay = day;
  }

  private async closeFile(): Promise<void> {
    const fh = this.fh;
    this.fh = null;
    this.fhDay = '';
    await fh?.close().catch(() => {});
  }

  /** Day files by day: the append file and/or the compacted one. */
  private async days(): Promise<Map<string, { append: boolean; compact: boolean }>> {
    let names: string[];
    try {
      names = await fs.promises.readdir(this.dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
      throw e;
    }
    const out = new Map<string, { append: boolean; compact: boolean }>();
    for (const n of names) {
      const m = DAY_FILE.exec(n);
      if (m === null) continue;
      const e = out.get(m[1]!) ?? { append: false, compact: false };
      if (m[2] === undefined) e.append = true;
      else e.compact = true;
      out.set(m[1]!, e);
    }
    return out;
  }

  /** Delete the days wholly before `cutoff` (ms). Returns the days deleted. */
  prune(cutoff: number): Promise<string[]> {
    return this.serial(async () => {
      const gone: string[] = [];
      for (const [day, e] of await this.days()) {
        if (dayStart(day) + DAY_MS > cutoff) continue;
        if (this.fhDay === day) await this.closeFile();
        if (e.append) await fs.promises.rm(path.join(this.dir, `${day}.jsonl`), { force: true });
        if (e.compact) await fs.promises.rm(path.join(this.dir, `${day}.c.jsonl`), { force: true });
        gone.push(day);
      }
      if (gone.length > 0) await syncDir(this.dir);
      return gone;
    });
  }

  /** Compact every day before `today` still in its append file. Returns the days compacted. */
  compact(today: string): Promise<string[]> {
    return this.serial(async () => {
      const done: string[] = [];
      for (const [day, e] of await this.days()) {
        if (day >= today || !e.append) continue;
        if (this.fhDay === day) await this.closeFile();
        const appendFile = path.join(this.dir, `${day}.jsonl`);
        const compactFile = path.join(this.dir, `${day}.c.jsonl`);
        // a compacted file beside it: a crash between the rename and the unlink (it has them all)
        if (!e.compact) {
          // streamed: the samples of one minute (consecutive in the file) merged into one line
          const tmp = `${compactFile}.tmp`;
          const fh = await fs.promises.open(tmp, 'w', 0o600);
          try {
            let cur: Sample | null = null;
            let out = '';
            const flush = async (force: boolean): Promise<void> => {
              if (out.length > 0 && (force || out.length > 1 << 20)) {
                await fh.write(out);
                out = '';
              }
            };
            const lines = readline.createInterface({ input: fs.createReadStream(appendFile, { encoding: 'utf8' }), crlfDelay: Infinity });
            for await (const line of lines) {
              const x = line === '' ? null : parseLine(line);
              if (x === null) continue;
              if (cur !== null && Math.floor(cur.t / 60_000) === Math.floor(x.t / 60_000)) {
                cur = mergeSamples([cur, x], this.gauges)[0]!;
                continue;
              }
              if (cur !== null) out += `${JSON.stringify(cur)}\n`;
              cur = x;
              await flush(false);
            }
            if (cur !== null) out += `${JSON.stringify(cur)}\n`;
            await flush(true);
            await fh.sync();
          } finally {
            await fh.close();
          }
          await fs.promises.rename(tmp, compactFile);
          await syncDir(this.dir);
        }
        await fs.promises.rm(appendFile, { force: true });
        done.push(day);
      }
      if (done.length > 0) await syncDir(this.dir);
      return done;
    });
  }

  /** Visit the samples with `from ≤ t < to`, day by day in time order (within a day, in
   * file order), reading each file as a stream; with `mustContain`, a line without that text
   * is skipped unparsed (a scope's key: most lines of a scoped query are not its). */
  async scan(from: number, to: number, visit: (s: Sample) => void, mustContain?: string): Promise<void> {
    await this.chain; // a sample being appended is read whole
    for (const [day, e] of [...(await this.days())].sort(([a], [b]) => (a < b ? -1 : 1))) {
      const start = dayStart(day);
      if (start + DAY_MS <= from || start >= to) continue;
      // both: a crash between compaction's rename and its unlink; the compacted file has them all
      const file = path.join(this.dir, `${day}${e.compact ? '.c.jsonl' : '.jsonl'}`);
      let stream: fs.ReadStream;
      try {
        stream = fs.createReadStream(file, { encoding: 'utf8', highWaterMark: 256 * 1024 });
        await new Promise<void>((resolve, reject) => {
          stream.once('open', () => resolve());
          stream.once('error', reject);
        });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue; // compacted or pruned meanwhile
        throw err;
      }
      const lines = readline.createInterface({ input: stream, crlfDelay: Infinity });
      for await (const line of lines) {
        if (line === '' || (mustContain !== undefined && !line.includes(mustContain))) continue;
        const sample = parseLine(line);
        if (sample !== null && sample.t >= from && sample.t < to) visit(sample);
      }
    }
  }

  /** The samples with `from ≤ t < to`, in time order (small windows and tests; queries scan). */
  async read(from: number, to: number): Promise<Sample[]> {
    const out: Sample[] = [];
    await this.scan(from, to, (x) => out.push(x));
    return out.sort((a, b) => a.t - b.t);
  }

  async close(): Promise<void> {
    await this.serial(() => this.closeFile());
  }
}

async function syncDir(dir: string): Promise<void> {
  const fh = await fs.promises.open(dir, 'r');
  try {
    await fh.sync();
  } catch {
    // some file systems cannot fsync a directory
  } finally {
    await fh.close();
  }
}
