/**
 * bench/run-all.ts: every bench in sequence (`npm run bench`).
 *
 *   node bench/run-all.ts [NAME …]     # all bench/*.ts but this one, or only the named ones
 *
 * Runs each bench/*.ts script (alphabetically, not this file, not bench/lib/) as a child process
 * with process.execPath, its stdout and stderr passed through, one at a time, each killed after
 * BENCH_TIMEOUT_MS. Every bench ends its output with one line of JSON; at the end this prints
 * exactly one line of JSON collecting them:
 *   {"bench":"all","node":…,"results":{"<name>":<its last JSON line>|null,…},"failed":[{name,code,reason}…]}
 * A bench that exits non-zero, times out, or whose last line is not JSON is listed in `failed`
 * (its result is null when there is no JSON). Exit code 1 if any failed, else 0.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { printJsonLine } from './lib/table.ts';

const BENCH_TIMEOUT_MS = 20 * 60_000;
const DIR = path.dirname(fileURLToPath(import.meta.url));
const SELF = path.basename(fileURLToPath(import.meta.url));

interface Failure {
  name: string;
  code: number | null;
  reason: string;
}

function runOne(file: string): Promise<{ code: number | null; lastLine: string; timedOut: boolean }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [file], { stdio: ['ignore', 'pipe', 'inherit'] });
    let lastLine = '';
    let partial = '';
    let timedOut = false;
    child.stdout!.on('data', (d: Buffer) => {
      process.stdout.write(d);
      partial += d.toString('utf8');
      const lines = partial.split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) if (l.trim() !== '') lastLine = l;
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 5000).unref();
    }, BENCH_TIMEOUT_MS);
    const onSignal = (): void => void child.kill('SIGTERM');
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    child.on('close', (code) => {
      clearTimeout(timer);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      if (partial.trim() !== '') {
        process.stdout.write('\n');
        lastLine = partial;
      }
      resolve({ code, lastLine, timedOut });
    });
    child.on('error', () => {
      clearTimeout(timer);
      resolve({ code: null, lastLine, timedOut });
    });
  });
}

const wanted = process.argv.slice(2).map((a) => a.replace(/\.ts$/, ''));
const files = fs
  .readdirSync(DIR)
  .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts') && f !== SELF)
  .filter((f) => wanted.length === 0 || wanted.includes(f.replace(/\.ts$/, '')))
  .sort();
const unknown = wanted.filter((w) => !files.includes(`${w}.ts`));
if (unknown.length > 0) {
  console.error(`run-all: no such bench: ${unknown.join(', ')}`);
  process.exit(2);
}

const results: Record<string, unknown> = {};
const failed: Failure[] = [];
for (const f of files) {
  const name = f.replace(/\.ts$/, '');
  console.log(`== bench/${f} ==`);
  const t0 = Date.now();
  const r = await runOne(path.join(DIR, f));
  let parsed: unknown = null;
  try {
    parsed = JSON.parse(r.lastLine);
  } catch {
    /* not JSON */
  }
  results[name] = parsed;
  if (r.timedOut) failed.push({ name, code: r.code, reason: `timed out after ${BENCH_TIMEOUT_MS / 1000} s` });
  else if (r.code !== 0) failed.push({ name, code: r.code, reason: `exited with code ${r.code}` });
  else if (parsed === null || typeof parsed !== 'object') failed.push({ name, code: r.code, reason: 'the last line of its output is not JSON' });
  console.log(`== bench/${f}: ${r.code === 0 && !r.timedOut ? 'done' : 'FAILED'} in ${((Date.now() - t0) / 1000).toFixed(1)} s ==\n`);
}

printJsonLine({ bench: 'all', node: process.version, results, failed });
process.exit(failed.length > 0 ? 1 : 0);
