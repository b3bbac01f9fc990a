/**
 * test/log/helpers.ts: a running server for the Log service tests: a free UDP port for the Log
 * service's listener (internal logging needs its real port, so it is chosen before the start),
 * a UDP listener that collects datagrams (a syslog or remote Log service stand-in), a control
 * call (`log.tail`), and `logger` (util-linux) runs.
 */
import dgram from 'node:dgram';
import fs from 'node:fs';
import path from 'node:path';
import { startServer, type Server } from '../../actors/server.ts';
import { controlRequest } from '../../src/control/client.ts';
import { runProcess, tmpDir, waitFor } from '../helpers.ts';

/** A UDP port free on 127.0.0.1 right now. */
export function freeUdpPort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    s.once('error', reject);
    s.bind({ address: host, port: 0 }, () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
}

export interface UdpCollector {
  port: number;
  datagrams: Buffer[];
  close(): void;
}

/** A UDP socket on 127.0.0.1 that keeps what it receives. */
export function udpCollector(): Promise<UdpCollector> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    const datagrams: Buffer[] = [];
    s.on('message', (m) => datagrams.push(m));
    s.once('error', reject);
    s.bind({ address: '127.0.0.1', port: 0 }, () => resolve({ port: s.address().port, datagrams, close: () => s.close() }));
  });
}

export interface LogEnv {
  server: Server;
  dir: string;
  logPort: number;
  /** The config text it started with (a test edits it for a reload). */
  configText: string;
  ctl(verb: string, args?: Record<string, unknown>): Promise<unknown>;
  /** The text of a file under <dataDir>/log/ ('' when absent). */
  file(name: string): string;
  stop(): Promise<void>;
}

/** Start a server with `services` and the Log service on a free port; `body` adds blocks,
 * `logBlock` the Log service's own attributes. */
export async function startLogServer(o: { services: string[]; body?: string; logBlock?: string; logListener?: string; moreListeners?: string; hostname?: string; dir?: string }): Promise<LogEnv> {
  const dir = o.dir ?? tmpDir('postern-log-');
  const logPort = await freeUdpPort();
  const configText = `
Server {
    services = (${[...o.services, 'log'].join(' ')})
    primaryDomain = "example.org"
    ${o.hostname === undefined ? '' : `hostname = ${o.hostname}`}
    statusListener = 127.0.0.1:0
    logLevel = fatal
    ${o.body ?? ''}
    log = {
        listeners = ( { address = 127.0.0.1:${logPort} ${o.logListener ?? ''} } ${o.moreListeners ?? ''} )
        minConnThreads = 1 maxConnThreads = 1
        ${o.logBlock ?? ''}
    }
}`;
  const server = await startServer({ configText, dataDir: dir, statusPort: 0, backoffInitialMs: 100, loadIntervalMs: 200 });
  return {
    server,
    dir,
    logPort,
    configText,
    ctl: (verb, args = {}) => controlRequest(server.socketPath, verb, args),
    file: (name) => {
      try {
        return fs.readFileSync(path.isAbsolute(name) ? name : path.join(dir, 'log', name), 'utf8');
      } catch {
        return '';
      }
    },
    stop: () => server.stop(),
  };
}

/** The service's counters (SessionContext/DatagramContext `count`) on /status. */
export function counters(server: Server, service: string): Record<string, number> {
  return (server.status().services.find((s) => s.name === service) as { counters?: Record<string, number> } | undefined)?.counters ?? {};
}

/** A datagram to 127.0.0.1:port. */
export function sendUdp(port: number, data: Buffer | string): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    s.send(data, port, '127.0.0.1', (e) => {
      s.close();
      if (e) reject(e);
      else resolve();
    });
  });
}

/** Wait until a file under <dataDir>/log/ contains `text`. */
export function waitForLine(env: LogEnv, name: string, text: string | RegExp, timeoutMs = 15_000): Promise<string> {
  return waitFor(() => {
    const t = env.file(name);
    return (typeof text === 'string' ? t.includes(text) : text.test(t)) ? t : null;
  }, timeoutMs, `${name} to contain ${String(text)}`);
}

/** `logger --udp` (util-linux) to 127.0.0.1:port. */
export async function logger(port: number, message: string, more: string[] = []): Promise<void> {
  const r = await runProcess('logger', ['--udp', '--server', '127.0.0.1', '--port', String(port), ...more, message]);
  if (r.code !== 0) throw new Error(`logger failed: ${r.stderr}`);
}
