/**
 * test/report/helpers.ts: a server running smtpIncoming, processing, pop3, imap and the Report
 * service on port 0 (its control socket on, for `report.query` as `postern ctl` sends it), and
 * the Python client runner.
 */
import { execFile } from 'node:child_process';
import { startServer, type Server, type StartOptions } from '../../actors/server.ts';
import { controlRequest } from '../../src/control/client.ts';
import { tmpDir } from '../helpers.ts';
import type { ReportQueryArgs, ReportQueryResult, ReportSampleResult } from '../../src/service/report.ts';

export interface ReportEnv {
  server: Server;
  dir: string;
  smtp: number;
  pop3: number;
  imap: number;
  report: number;
  query(args?: ReportQueryArgs): Promise<ReportQueryResult>;
  sample(): Promise<ReportSampleResult>;
  /** The report service's and smtpIncoming's … counters on /status. */
  counters(service: string): Record<string, number>;
  stop(): Promise<void>;
}

export function reportConfig(o: { report?: string; server?: string; services?: string; smtp?: string } = {}): string {
  return `
Server {
    services = (${o.services ?? 'smtpIncoming processing pop3 imap report'})
    primaryDomain = "example.org"
    statusListener = 127.0.0.1:0
    logLevel = error
    ${o.server ?? ''}
    smtpIncoming = { listeners = ( { address = 127.0.0.1:0 } ) minConnThreads = 1 maxConnThreads = 1 ${o.smtp ?? ''} }
    pop3 = { listeners = ( { address = 127.0.0.1:0 } ) minConnThreads = 1 maxConnThreads = 1 authFailureDelay = 0 plainConnAllowLogin = yes }
    imap = { listeners = ( { address = 127.0.0.1:0 } ) minConnThreads = 1 maxConnThreads = 1 authFailureDelay = 0 plainConnAllowLogin = yes }
    report = {
        listeners = ( { address = 127.0.0.1:0 } )
        minConnThreads = 1 maxConnThreads = 1
        ${o.report ?? ''}
    }
}`;
}

export async function startReport(o: { report?: string; server?: string; services?: string; smtp?: string; dir?: string; start?: Partial<StartOptions> } = {}): Promise<ReportEnv> {
  const dir = o.dir ?? tmpDir('postern-report-');
  const server = await startServer({ configText: reportConfig(o), dataDir: dir, statusPort: 0, controlSocket: true, loadIntervalMs: 100, backoffInitialMs: 100, ...o.start });
  const has = (s: string): boolean => server.status().services.some((x) => x.name === s && x.state === 'running');
  return {
    server,
    dir,
    smtp: has('smtpIncoming') ? server.port('smtpIncoming') : 0,
    pop3: has('pop3') ? server.port('pop3') : 0,
    imap: has('imap') ? server.port('imap') : 0,
    report: has('report') ? server.port('report') : 0,
    query: async (args = {}) => (await controlRequest(server.socketPath, 'report.query', args as Record<string, unknown>)) as ReportQueryResult,
    sample: async () => (await controlRequest(server.socketPath, 'report.sample', {})) as ReportSampleResult,
    counters: (service) => server.status().services.find((s) => s.name === service)?.counters ?? {},
    stop: () => server.stop(),
  };
}

/** The sum of a series' points (null points count 0). */
export function total(r: ReportQueryResult, counter: string): number {
  const s = r.series.find((x) => x.counter === counter);
  if (s === undefined) throw new Error(`no series ${counter}`);
  return s.points.reduce((a, [, v]) => a + (v ?? 0), 0);
}

/** Run a Python script; resolves its stdout, rejects with its stderr on a non-zero exit. */
export function python(script: string, timeoutMs = 60_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('python3', ['-c', script], { timeout: timeoutMs, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err === null) resolve(stdout);
      else reject(new Error(`python failed: ${String(err)}\n${stderr}`));
    });
  });
}
