/**
 * test/store/helpers.ts: a store in a temp dir with a cheap password hash, a log that keeps
 * its records, and a fake-able fs layer.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Store, type StoreOptions } from '../../src/store/store.ts';
import type { StoreLog } from '../../src/store/writer.ts';

export interface LogRecord {
  level: 'info' | 'warn' | 'error';
  msg: string;
  o: Record<string, unknown>;
}

export function memLog(): StoreLog & { records: LogRecord[] } {
  const records: LogRecord[] = [];
  const at = (level: LogRecord['level']) => (o: object, msg?: string): void => void records.push({ level, msg: msg ?? '', o: o as Record<string, unknown> });
  return { records, info: at('info'), warn: at('warn'), error: at('error') };
}

export function tmpData(prefix = 'postern-store-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** A fast, clearly fake hash for tests that do not test hashing. */
export const fakeHash = async (pw: string): Promise<string> => `fake$${Buffer.from(pw).toString('base64')}`;
export const fakeVerify = async (hash: string, pw: string): Promise<boolean> => hash === `fake$${Buffer.from(pw).toString('base64')}`;

export async function openStore(dataDir: string, o: Partial<StoreOptions> = {}): Promise<{ store: Store; log: ReturnType<typeof memLog> }> {
  const log = memLog();
  const store = await new Store({ dataDir, log, hashPassword: fakeHash, compactIntervalMs: 0, ...o }).open();
  return { store, log };
}

/** A store with domain example.org and account ann@example.org. */
export async function withAccount(o: Partial<StoreOptions> = {}, dataDir = tmpData()): Promise<{ store: Store; log: ReturnType<typeof memLog>; dataDir: string }> {
  const { store, log } = await openStore(dataDir, o);
  await store.directory.addDomain('example.org');
  await store.directory.addAccount('ann@example.org', { password: 'secret' });
  return { store, log, dataDir };
}

export const msg = (i: number | string, pad = 0): Buffer => Buffer.from(`Subject: ${i}\r\n\r\nbody ${i}${'x'.repeat(pad)}\r\n`);

/** Flip one byte of a stored body in its segment file under `dataDir` (found by a marker in it). */
export function damageBody(dataDir: string, marker: string): void {
  const root = path.join(dataDir, 'store', 'shards');
  for (const shard of fs.readdirSync(root)) {
    for (const f of fs.readdirSync(path.join(root, shard)).filter((n) => n.startsWith('seg-'))) {
      const file = path.join(root, shard, f);
      const at = fs.readFileSync(file).indexOf(marker);
      if (at < 0) continue;
      const fd = fs.openSync(file, 'r+');
      fs.writeSync(fd, Buffer.from('#'), 0, 1, at);
      fs.closeSync(fd);
      return;
    }
  }
  throw new Error(`marker ${marker} not found`);
}
