/**
 * test/http/helpers.ts: the HTTP host's tests: a server running the fixture service
 * (test/fixtures/http-fixture.ts) in the test-only slots testHttp, testHttp2, testHttp3, and
 * curl as the client (`curl`: one invocation, its exit code, the answer and `-v`'s trace).
 */
import { execFile } from 'node:child_process';
import { startServer, type Server } from '../../actors/server.ts';
import { tmpDir } from '../helpers.ts';
import { TEST_HTTP, TEST_HTTP2, TEST_HTTP3 } from '../fixtures/test-services.ts';

export async function startHttpServer(blocks: string, dir = tmpDir('postern-http-')): Promise<Server> {
  const names = ['testHttp', 'testHttp2', 'testHttp3'].filter((n) => new RegExp(`\\b${n}\\s*=`).test(blocks));
  const configText = `
Server {
    services = (${names.join(' ')})
    statusListener = 127.0.0.1:0
    logLevel = error
    ${blocks}
}`;
  return startServer({ configText, dataDir: dir, statusPort: 0, controlSocket: false, testServices: [TEST_HTTP, TEST_HTTP2, TEST_HTTP3] });
}

export interface CurlResult {
  code: number;
  /** The answers' bodies (stdout). */
  out: string;
  /** `-v`'s trace (stderr): `< ` lines are the answers' heads, `* ` lines curl's notes. */
  trace: string;
  /** Connections curl opened (`Connected to … (#n)`). */
  connections: number;
  /** The status of each answer, in order. */
  statuses: number[];
}

/** Run curl (always `-sS -v`, never the event loop blocked: the server runs in this process). */
export function curl(args: string[], timeoutMs = 20_000): Promise<CurlResult> {
  return new Promise((resolve) => {
    execFile('curl', ['-sS', '-v', '--max-time', String(Math.ceil(timeoutMs / 1000)), ...args], { timeout: timeoutMs + 5000, maxBuffer: 64 << 20 }, (e, out, trace) => {
      const code = e === null ? 0 : Number((e as { code?: number }).code ?? 1);
      const connections = (trace.match(/^\* Connected to /gm) ?? []).length;
      const statuses = [...trace.matchAll(/^< HTTP\/1\.1 (\d{3})/gm)].map((m) => Number(m[1]));
      resolve({ code, out, trace, connections, statuses });
    });
  });
}

/** The answer heads' values of `name` (lower case), in order. */
export function headers(r: CurlResult, name: string): string[] {
  return [...r.trace.matchAll(new RegExp(`^< ${name}: (.*?)\\r?$`, 'gmi'))].map((m) => m[1]!);
}
