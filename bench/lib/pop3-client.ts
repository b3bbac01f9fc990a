/**
 * bench/lib/pop3-client.ts: bench/pop3.ts's handle on its load generator, bench/pop3-client.c
 * (built here with `cc -O2` into the temp directory when missing or older than its source).
 *
 * Exports: `buildClient()` → the binary's path; `runSessions(bin, port, clients, seconds,
 * userFmt, users, password, pipeline?)` → the counts of one timed run; `openIdle(bin, port, n, userFmt,
 * users, password)` → once n sessions are logged in, their counts and `close()`.
 * Rejects: the generator failed, printed no result, or (openIdle) did not finish in 330 s.
 * Throws: `cc` failed (buildClient).
 */
import { spawn } from 'node:child_process';
import { buildC, runJsonChild } from './child.ts';

export function buildClient(): string {
  return buildC('pop3-client');
}

export interface RunResult {
  sessions: number;
  messages: number;
  bytes: number;
  errors: number;
  elapsed_s: number;
  cpu_s: number;
}

/** `pipeline`: RETRs sent at a time in one write (default 1: not pipelined). */
export function runSessions(bin: string, port: number, clients: number, seconds: number, userFmt: string, users: number, password: string, pipeline = 1): Promise<RunResult> {
  return runJsonChild<RunResult>(bin, ['sessions', String(port), String(clients), String(seconds), userFmt, String(users), password, String(pipeline)], (seconds + 30) * 1000);
}

export interface IdleSessions {
  ready: number;
  errors: number;
  cpu_s: number;
  close(): Promise<void>;
}

/** Open `n` logged-in sessions and hold them until `close()`. */
export function openIdle(bin: string, port: number, n: number, userFmt: string, users: number, password: string): Promise<IdleSessions> {
  return new Promise((resolve, reject) => {
    const p = spawn(bin, ['idle', String(port), String(n), userFmt, String(users), password], { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    const exited = new Promise<void>((r) => p.on('exit', () => r()));
    const timer = setTimeout(() => (p.kill('SIGKILL'), reject(new Error('idle sessions did not open within 330 s'))), 330_000);
    p.on('exit', (code) => {
      if (!out.includes('\n')) reject(new Error(`load generator exited (code ${code}) before its sessions were up`));
    });
    p.stdout.on('data', (d) => {
      out += d;
      if (!out.includes('\n')) return;
      clearTimeout(timer);
      const r = JSON.parse(out.trim()) as { ready: number; errors: number; cpu_s: number };
      resolve({ ...r, close: async () => (p.stdin.end(), exited) });
    });
  });
}
