/**
 * bench/lib/launch.ts: the child-process side of bench/lib/server.ts. Run with process.execPath:
 *
 *   node bench/lib/launch.ts '<json: { configText, dataDir, protocolOverrides? }>'
 *
 * Starts a Postern server (status endpoint on port 0, no control socket, signals on), then
 * prints exactly one line of JSON on stdout, marked `"posternLaunch": 1`:
 *   { posternLaunch: 1, pid, statusPort, nofile, ports: { service: [port per listener] } }
 * (the server's own pino log lines share stdout; the parent picks the marked line out), and
 * waits. It stops on SIGTERM/SIGINT (the server's own handlers, exit 0) and when its stdin
 * closes (the parent went away). A start failure prints
 *   { posternLaunch: 1, error: { code, message } }
 * and exits 1.
 */
import fs from 'node:fs';
import { startServer, type Server } from '../../actors/server.ts';

interface LaunchArgs {
  configText: string;
  dataDir: string;
  protocolOverrides?: Record<string, string>;
}

/** The soft open-file limit this process runs under (from /proc/self/limits). */
function nofileLimit(): number | null {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(fs.readFileSync('/proc/self/limits', 'utf8'));
    if (m === null) return null;
    return m[1] === 'unlimited' ? Number.POSITIVE_INFINITY : Number(m[1]);
  } catch {
    return null;
  }
}

function emit(obj: Record<string, unknown>): void {
  // one write call, so the line is not interleaved with the logger's lines
  fs.writeSync(1, `${JSON.stringify({ posternLaunch: 1, ...obj })}\n`);
}

const args = JSON.parse(process.argv[2] ?? '{}') as LaunchArgs;
let server: Server;
try {
  server = await startServer({
    configText: args.configText,
    dataDir: args.dataDir,
    statusPort: 0,
    controlSocket: false,
    signals: true,
    ...(args.protocolOverrides !== undefined ? { protocolOverrides: args.protocolOverrides } : {}),
  });
} catch (e) {
  const err = e as { code?: string; message?: string };
  emit({ error: { code: err.code ?? 'START_FAILED', message: err.message ?? String(e) } });
  process.exit(1);
}

const ports: Record<string, number[]> = {};
for (const svc of server.status().services) {
  if (svc.state !== 'running') continue;
  const list: number[] = [];
  for (let i = 0; i < svc.listeners.length; i++) {
    try {
      list.push(server.port(svc.name, i));
    } catch {
      break;
    }
  }
  ports[svc.name] = list;
}
emit({ pid: process.pid, statusPort: server.statusPort, nofile: nofileLimit(), ports });

// The parent closing our stdin (or dying) stops the server too.
process.stdin.on('end', () => void server.stop().then(() => process.exit(0)));
process.stdin.on('error', () => void server.stop().then(() => process.exit(0)));
process.stdin.resume();
void server.stopped.then(() => setTimeout(() => process.exit(0), 200).unref());
