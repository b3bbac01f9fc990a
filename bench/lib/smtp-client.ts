/**
 * bench/lib/smtp-client.ts: bench/smtp.ts's handle on its pipelining load generator,
 * bench/smtp-client.c (built here with `cc -O2` into the temp directory when missing or older
 * than its source).
 *
 * Exports: `buildSmtpClient()` → the binary's path; `runPipelined(bin, { port, sessions,
 * messages, seconds, payload, from, to })` → the counts of one run (`SmtpClientResult`).
 * Rejects: the generator failed or printed no result (runJsonChild). Throws: `cc` failed
 * (buildSmtpClient).
 */
import { buildC, runJsonChild } from './child.ts';

export function buildSmtpClient(): string {
  return buildC('smtp-client');
}

export interface SmtpClientResult {
  sessions: number;
  /** Messages accepted (250 after the dot). */
  messages: number;
  errors: number;
  /** First connection to the last 250. */
  elapsed_s: number;
  /** The generator's own CPU time (user + system). */
  cpu_s: number;
}

export interface PipelinedRun {
  port: number;
  sessions: number;
  /** Messages to send in all (the sessions share them). */
  messages: number;
  /** Time budget: no message is started after it. */
  seconds: number;
  /** Bytes of message text after the short header. */
  payload: number;
  from: string;
  to: string;
}

/** One run: `sessions` persistent sessions, MAIL/RCPT/DATA pipelined as one group per message. */
export function runPipelined(bin: string, r: PipelinedRun): Promise<SmtpClientResult> {
  const args = [r.port, r.sessions, r.messages, r.seconds, r.payload, r.from, r.to].map(String);
  return runJsonChild<SmtpClientResult>(bin, args, (r.seconds + 60) * 1000);
}
