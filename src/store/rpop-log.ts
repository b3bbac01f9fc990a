/**
 * store/rpop-log.ts: one RPOP connection's UIDL log, `<store>/rpop/<id>.log` (store/rpop.ts
 * keeps one per connection). Text lines, each ending with the crc32 (hex) of what precedes it:
 *   `P <date> <uidl> <crc>`  an intent: the message is about to be stored with internal date <date>
 *   `S <uidl> <crc>`         seen: its copy is durable
 *   `F <uidl> <crc>`         forgotten: the remote no longer lists it
 * Lines are appended and fdatasync'ed (`write` resolves once they are on disk); at open a torn
 * last line is cut and a line whose crc does not match is skipped. When the log is mostly
 * forgotten lines it is rewritten with the live ones (temp + fsync + rename + fsync dir).
 * In memory: the seen set and the pending intents.
 *
 * Exports: `UidlLog` (`open(file, fs)`, `seen`, `pending`, `intend`, `see`, `forget` (each
 * applies the change in memory and returns the line to write), `write(lines)`, `compact()`,
 * `close()`).
 * Throws (rejects): STORE_IO / STORE_NO_SPACE from `write` and `compact`.
 */
import fs from 'node:fs';
import { crc32 } from 'node:zlib';
import { ioError, writeFileAtomic, type FsLayer } from './fsio.ts';

function lineOf(fields: string[]): string {
  const s = fields.join(' ');
  return `${s} ${crc32(s).toString(16)}\n`;
}

export class UidlLog {
  readonly seen = new Set<string>();
  /** uidl → the internal date its copy gets */
  readonly pending = new Map<string, number>();
  private lines = 0;
  private fh: fs.promises.FileHandle | null = null;
  private chain: Promise<unknown> = Promise.resolve();
  private readonly file: string;
  private readonly fsl: FsLayer;

  private constructor(file: string, fsl: FsLayer) {
    this.file = file;
    this.fsl = fsl;
  }

  /** Read the log (missing: empty); a torn last line is cut off the file. */
  static open(file: string, fsl: FsLayer): UidlLog {
    const l = new UidlLog(file, fsl);
    let text = '';
    try {
      text = fs.readFileSync(file, 'latin1');
    } catch {
      return l;
    }
    const end = text.lastIndexOf('\n');
    for (const line of text.slice(0, end + 1).split('\n')) {
      const sp = line.lastIndexOf(' ');
      if (sp < 0) continue;
      const body = line.slice(0, sp);
      if (crc32(body).toString(16) !== line.slice(sp + 1)) continue; // a damaged line: skipped
      const f = body.split(' ');
      l.lines++;
      if (f[0] === 'P' && f.length === 3) l.pending.set(f[2]!, Number(f[1]));
      else if (f[0] === 'S' && f.length === 2) {
        l.seen.add(f[1]!);
        l.pending.delete(f[1]!);
      } else if (f[0] === 'F' && f.length === 2) {
        l.seen.delete(f[1]!);
        l.pending.delete(f[1]!);
      }
    }
    if (end + 1 < text.length) fs.truncateSync(file, Buffer.byteLength(text.slice(0, end + 1), 'latin1'));
    return l;
  }

  intend(uidl: string, date: number): string {
    this.pending.set(uidl, date);
    return lineOf(['P', String(date), uidl]);
  }

  see(uidl: string): string {
    this.pending.delete(uidl);
    this.seen.add(uidl);
    return lineOf(['S', uidl]);
  }

  forget(uidl: string): string {
    this.pending.delete(uidl);
    this.seen.delete(uidl);
    return lineOf(['F', uidl]);
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.chain.then(fn);
    this.chain = p.catch(() => {});
    return p;
  }

  /** Append lines and sync them. */
  write(lines: string[]): Promise<void> {
    if (lines.length === 0) return Promise.resolve();
    return this.serial(async () => {
      try {
        this.fh ??= await fs.promises.open(this.file, 'a', 0o600);
        await this.fh.write(lines.join(''));
        await this.fh.datasync();
        this.lines += lines.length;
      } catch (e) {
        throw ioError(e, `rpop log ${this.file}`);
      }
    });
  }

  /** Rewrite the log with only its live lines, when mostly dead. */
  compact(): Promise<void> {
    if (this.lines < 64 || this.lines < 2 * (this.seen.size + this.pending.size)) return Promise.resolve();
    return this.serial(async () => {
      const lines = [...[...this.pending].map(([u, d]) => lineOf(['P', String(d), u])), ...[...this.seen].map((u) => lineOf(['S', u]))];
      await this.fh?.close().catch(() => {});
      this.fh = null;
      await writeFileAtomic(this.fsl, this.file, Buffer.from(lines.join(''), 'latin1'));
      this.lines = lines.length;
    });
  }

  async close(): Promise<void> {
    await this.chain;
    await this.fh?.close().catch(() => {});
    this.fh = null;
  }
}
