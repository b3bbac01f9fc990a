/**
 * bench/lib/proc.ts: what the benches (and the Dovecot peer) read about processes from /proc:
 * the clock-tick rate, a process tree, its summed PSS, RSS and CPU time; the
 * whole machine's busy time. Linux only.
 *
 * Exports: `clockTicks()`, `descendants(pid)`, `pssBytes(pids)`, `rssBytes(pids)`,
 * `treeCpuSeconds(pids)`, `machineJiffies()`, `sh(cmd, args, {input})` (a command's stdout),
 * `debVersion(pkg)` (an installed Debian package's upstream version, e.g. "3.7.11", or null).
 * `sh` throws as execFileSync does (the command failed).
 * Throws: nothing; a process gone while it is read counts 0 (and is not listed).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

let clkTck: number | null = null;
/** Clock ticks per second (getconf CLK_TCK; 100 when it cannot say). */
export function clockTicks(): number {
  if (clkTck === null) {
    try {
      clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clkTck = 100;
    }
  }
  return clkTck;
}

/** The process and every process under it. */
export function descendants(root: number): number[] {
  const parent = new Map<number, number>();
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const st = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
      parent.set(Number(e), Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      /* gone */
    }
  }
  const out = [root];
  for (let i = 0; i < out.length; i++) for (const [pid, pp] of parent) if (pp === out[i]) out.push(pid);
  return out;
}

/** A `kB` field of each process's /proc file summed, bytes; gone processes count 0. */
function sumKb(pids: readonly number[], file: string, field: RegExp): number {
  let sum = 0;
  for (const pid of pids) {
    try {
      const m = field.exec(fs.readFileSync(`/proc/${pid}/${file}`, 'utf8'));
      if (m !== null) sum += Number(m[1]) * 1024;
    } catch {
      /* gone */
    }
  }
  return sum;
}

/** PSS (bytes) summed over the processes (smaps_rollup). */
export const pssBytes = (pids: readonly number[]): number => sumKb(pids, 'smaps_rollup', /^Pss:\s+(\d+) kB/m);

/** RSS (VmRSS, bytes) summed over the processes. */
export const rssBytes = (pids: readonly number[]): number => sumKb(pids, 'status', /^VmRSS:\s+(\d+)\s+kB/m);

/** Busy and total jiffies of the whole machine (/proc/stat), to show how loaded it was. */
export function machineJiffies(): { busy: number; total: number } {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const idle = (f[3] ?? 0) + (f[4] ?? 0);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

/** utime+stime+cutime+cstime summed over the processes, seconds (a process's reaped children
 * count in its own). */
export function treeCpuSeconds(pids: readonly number[]): number {
  let sum = 0;
  for (const pid of pids) {
    try {
      const st = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
      sum += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
    } catch {
      /* gone */
    }
  }
  return sum / clockTicks();
}

/** Run a command and return its stdout (`input` on its stdin); throws as execFileSync does. */
export function sh(cmd: string, args: string[], opts: { input?: string } = {}): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], input: opts.input });
}

/** The upstream part of an installed Debian package's version ("2.3.19.1" of
 * "1:2.3.19.1+dfsg1-2.1+deb12u7"), or null when the package is not installed. */
export function debVersion(pkg: string): string | null {
  try {
    const v = execFileSync('dpkg-query', ['-W', '-f=${Version}', pkg], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const m = /^(?:\d+:)?([0-9][0-9.]*)/.exec(v);
    return m === null ? null : m[1]!.replace(/\.$/, '');
  } catch {
    return null;
  }
}
