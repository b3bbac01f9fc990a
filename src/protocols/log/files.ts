/**
 * protocols/log/files.ts: the Log service's files: each record goes to the first rule (by
 * priority) whose hostname and module match (exactly, case-insensitively, or `*`) and whose
 * logLevel holds the record's level; a record no rule takes is not written. The rule's file
 * (under `dir` unless absolute) gets one line per record:
 *   `2026-12-06 12:31:01 +0000 WARNING mail.example.org POP3: login failed {…}`
 *
 * Writes are batched: lines wait in memory (at most `writeBufferBytes` in all; beyond, a line
 * is dropped and counted) and are appended every FLUSH_MS, one append per file, one flush at a
 * time, so the thread never waits on the disk. Before an append, the file is rotated when the
 * lines would take it past `fileSizeBytes` (a non-empty file), when it has been written
 * `fileTimeMs` since it began, or when a `rotatePeriod` boundary (day, ISO week from Monday,
 * month; UTC) lies between its beginning and now: `name` → `name.1`, `name.1` → `name.2` …,
 * keeping `fileCount` old files (0: none kept). The clock is injectable (`now`).
 *
 * A failed append (ENOSPC, EDQUOT, EFBIG: "disk full"; any other error code likewise) loses
 * its lines, never the thread's work: they are counted (`dropped`) and `onTrouble` is told
 * once per episode ("log lines dropped: disk full"), and again (`ok`) when an append works.
 * The file operations are injectable (`io`), which is how the tests make a disk full.
 *
 * Exports: `LogFiles`, `LogFilesOptions`, `LogIo`, `formatLine(record)`, `matchRule(rules, r)`,
 * `periodStart(ms, period)`. Throws nothing (errors become counts).
 */
import fs from 'node:fs';
import path from 'node:path';
import { LEVEL_BITS, type LogRecord } from '../../net/syslog.ts';
import type { LogRuleOptions } from '../../config/options.ts';

const FLUSH_MS = 100;

export interface LogIo {
  appendFile(file: string, data: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  unlink(file: string): Promise<void>;
  /** Size and birth time (ms) of a file; null when absent. */
  stat(file: string): Promise<{ size: number; birthMs: number } | null>;
  mkdir(dir: string): Promise<void>;
}

const realIo: LogIo = {
  appendFile: (f, d) => fs.promises.appendFile(f, d),
  rename: (a, b) => fs.promises.rename(a, b),
  unlink: (f) => fs.promises.unlink(f),
  stat: async (f) => {
    try {
      const s = await fs.promises.stat(f);
      return { size: s.size, birthMs: s.birthtimeMs > 0 ? s.birthtimeMs : s.mtimeMs };
    } catch {
      return null;
    }
  },
  mkdir: async (d) => void (await fs.promises.mkdir(d, { recursive: true })),
};

export interface LogFilesOptions {
  dir: string;
  rules: readonly LogRuleOptions[];
  writeBufferBytes: number;
  now?: () => number;
  io?: Partial<LogIo>;
  /** A write trouble began (`ok` false, once per episode, with why) or ended (`ok` true). */
  onTrouble?: (ok: boolean, why: string, dropped: number) => void;
  /** Lines lost (the buffer was full, or an append failed). */
  onDropped?: (n: number) => void;
}

interface FileState {
  file: string;
  rule: LogRuleOptions;
  lines: string[];
  bytes: number;
  /** Its size at the last look (each flush looks, so that another thread's lines count). */
  size: number;
  /** Its birth time at the last look; UNSEEN before the first, MADE when this writer made it
   * (or rotated it away) and has not looked since. */
  birth: number;
  beganAt: number;
}
const UNSEEN = -1;
const MADE = -2;

const pad = (n: number): string => String(n).padStart(2, '0');

/** One line of a log file. */
export function formatLine(r: LogRecord): string {
  const d = new Date(r.time);
  const ts = `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} +0000`;
  return `${ts} ${r.level.toUpperCase()} ${r.hostname} ${r.module}: ${r.msg.replace(/[\r\n]+/g, ' ')}\n`;
}

/** The first rule (rules are sorted by priority) taking the record; null: none. */
export function matchRule(rules: readonly LogRuleOptions[], r: LogRecord): LogRuleOptions | null {
  const host = r.hostname.toLowerCase();
  const mod = r.module.toLowerCase();
  for (const rule of rules) {
    if (rule.hostname !== '*' && rule.hostname !== host) continue;
    if (rule.module !== '*' && rule.module.toLowerCase() !== mod) continue;
    if ((rule.levels & LEVEL_BITS[r.level]) === 0) continue;
    return rule;
  }
  return null;
}

/** The start (ms, UTC) of the period holding `ms`: day, ISO week (Monday), month; none: 0. */
export function periodStart(ms: number, period: LogRuleOptions['rotatePeriod']): number {
  const d = new Date(ms);
  const day = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
  switch (period) {
    case 'day': return day;
    case 'week': return day - ((d.getUTCDay() + 6) % 7) * 86_400_000;
    case 'month': return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
    default: return 0;
  }
}

export class LogFiles {
  written = 0;
  /** Lines lost: the buffer was full, or an append failed. */
  dropped = 0;
  rotations = 0;
  private o: LogFilesOptions;
  private io: LogIo;
  private now: () => number;
  private files = new Map<string, FileState>();
  private pendingBytes = 0;
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;
  private trouble: string | null = null;
  private troubleDropped = 0;
  private madeDirs = new Set<string>();

  constructor(o: LogFilesOptions) {
    this.o = o;
    this.io = { ...realIo, ...o.io };
    this.now = o.now ?? Date.now;
  }

  /** New rules and limits (a reload); files in hand keep their state. */
  setOptions(rules: readonly LogRuleOptions[], writeBufferBytes: number): void {
    this.o = { ...this.o, rules, writeBufferBytes };
  }

  private pathOf(rule: LogRuleOptions): string {
    return path.isAbsolute(rule.fileName) ? rule.fileName : path.join(this.o.dir, rule.fileName);
  }

  /** Route and queue one record; false when no rule takes it. */
  add(r: LogRecord): boolean {
    const rule = matchRule(this.o.rules, r);
    if (rule === null) return false;
    const line = formatLine(r);
    if (this.pendingBytes + line.length > this.o.writeBufferBytes) {
      this.dropped++;
      this.o.onDropped?.(1);
      return true; // taken by a rule, and dropped (counted)
    }
    const file = this.pathOf(rule);
    let st = this.files.get(file);
    if (st === undefined) {
      st = { file, rule, lines: [], bytes: 0, size: 0, birth: UNSEEN, beganAt: this.now() };
      this.files.set(file, st);
    }
    st.rule = rule;
    st.lines.push(line);
    st.bytes += Buffer.byteLength(line);
    this.pendingBytes += line.length;
    if (this.timer === null && this.flushing === null) {
      this.timer = setTimeout(() => void this.flush(), FLUSH_MS);
      this.timer.unref?.();
    }
    return true;
  }

  /** Write what waits (one flush at a time); resolves when it is written or dropped. */
  flush(): Promise<void> {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.flushing !== null) return this.flushing.then(() => this.flush());
    this.flushing = this.writeAll().finally(() => {
      this.flushing = null;
      if (this.pendingBytes > 0 && this.timer === null) {
        this.timer = setTimeout(() => void this.flush(), FLUSH_MS);
        this.timer.unref?.();
      }
    });
    return this.flushing;
  }

  private async writeAll(): Promise<void> {
    for (const st of this.files.values()) {
      if (st.lines.length === 0) continue;
      const data = st.lines.join('');
      const n = st.lines.length;
      const bytes = st.bytes;
      st.lines = [];
      st.bytes = 0;
      this.pendingBytes -= data.length;
      try {
        await this.ensureDir(path.dirname(st.file));
        const s = await this.io.stat(st.file);
        if (s === null) {
          st.size = 0;
          st.birth = MADE;
        } else {
          // a file found at start began at its birth; one another writer replaced, about now
          if (st.birth === UNSEEN) st.beganAt = Math.min(this.now(), s.birthMs);
          else if (st.birth !== MADE && st.birth !== s.birthMs) st.beganAt = this.now();
          st.birth = s.birthMs;
          st.size = s.size;
        }
        if (this.dueForRotation(st, bytes)) await this.rotate(st);
        await this.io.appendFile(st.file, data);
        st.size += bytes;
        this.written += n;
        this.recovered();
      } catch (e) {
        this.lost(n, e);
      }
    }
  }

  private async ensureDir(dir: string): Promise<void> {
    if (this.madeDirs.has(dir)) return;
    await this.io.mkdir(dir);
    this.madeDirs.add(dir);
  }

  private dueForRotation(st: FileState, incoming: number): boolean {
    const r = st.rule;
    const now = this.now();
    if (st.size === 0) {
      // an empty file begins now
      st.beganAt = now;
      return false;
    }
    if (st.size + incoming > r.fileSizeBytes) return true;
    if (now - st.beganAt >= r.fileTimeMs) return true;
    if (r.rotatePeriod !== 'none' && periodStart(now, r.rotatePeriod) !== periodStart(st.beganAt, r.rotatePeriod)) return true;
    return false;
  }

  /** name → name.1 → … → name.fileCount (the oldest beyond it is removed). */
  private async rotate(st: FileState): Promise<void> {
    const count = st.rule.fileCount;
    const gone = async (f: string): Promise<void> => {
      await this.io.unlink(f).catch(() => {});
    };
    if (count === 0) await gone(st.file);
    else {
      await gone(`${st.file}.${count}`);
      for (let i = count - 1; i >= 1; i--) await this.io.rename(`${st.file}.${i}`, `${st.file}.${i + 1}`).catch(() => {});
      await this.io.rename(st.file, `${st.file}.1`);
    }
    st.size = 0;
    st.birth = MADE;
    st.beganAt = this.now();
    this.rotations++;
  }

  private lost(n: number, e: unknown): void {
    this.dropped += n;
    this.o.onDropped?.(n);
    const code = (e as NodeJS.ErrnoException | null)?.code ?? 'error';
    const why = code === 'ENOSPC' || code === 'EDQUOT' || code === 'EFBIG' ? 'disk full' : code;
    this.troubleDropped += n;
    if (this.trouble !== why) {
      this.trouble = why;
      this.o.onTrouble?.(false, why, this.troubleDropped);
    }
  }

  private recovered(): void {
    if (this.trouble === null) return;
    const why = this.trouble;
    const n = this.troubleDropped;
    this.trouble = null;
    this.troubleDropped = 0;
    this.o.onTrouble?.(true, why, n);
  }

  /** At the thread's exit: append what waits, synchronously (no rotation; errors lose it). */
  flushSync(): void {
    if (this.o.io?.appendFile !== undefined) return; // an injected writer has no sync path
    for (const st of this.files.values()) {
      if (st.lines.length === 0) continue;
      try {
        fs.mkdirSync(path.dirname(st.file), { recursive: true });
        fs.appendFileSync(st.file, st.lines.join(''));
        this.written += st.lines.length;
      } catch {
        this.dropped += st.lines.length;
      }
      this.pendingBytes -= st.lines.reduce((n, l) => n + l.length, 0);
      st.lines = [];
      st.bytes = 0;
    }
  }

  /** Write what waits and stop the timer. */
  async close(): Promise<void> {
    await this.flush();
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }
}
