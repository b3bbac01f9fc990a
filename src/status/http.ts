/**
 * src/status/: the status endpoint (here), the document it serves and its metrics.
 *
 * status/http.ts: the status HTTP endpoint (node:http).
 *
 *   GET /status  → 200 application/json: the StatusDoc (Infinity, NaN rendered as null)
 *   GET /metrics → 200 Prometheus text format (content type from the prom-client registry)
 *   GET /healthz → 200 text/plain "ok"
 *   anything else → 404; a known path with a method other than GET/HEAD → 405 (Allow: GET, HEAD)
 * A `getStatus` or metrics failure answers 500 and is logged.
 *
 * Connection limits (`limits`, the Server's `statusControl`): every accepted connection is
 * admitted by the same `Admission` as a service listener (maxConnections, maxIntervalConnections
 * per timeInterval, and their peer* forms per remote IP); a refused one gets `503` with
 * `connection: close` and is closed at once; a connection silent for idleTimeout is closed, and
 * a request that has not arrived whole within requestTimeout (a slowloris sending a byte now and
 * then) gets 408 and is closed.
 * `listenerStatus()` gives its counts as a /status listener entry.
 *
 * Exports: `startStatusServer(opts)` → `{ port, close(), reconfigure(limits), listenerStatus() }` once listening (port 0 picks a free
 * port; `port` is the bound one). `close()` stops accepting and drops open connections at once.
 * `StatusServerOptions`, `StatusServer`, `StatusLog` (types).
 *
 * Throws (rejects): LISTEN_FAILED when the address cannot be bound.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { PosternError } from '../errors.ts';
import { Admission, TripLogger, type WarnLogger } from '../net/admission.ts';
import { UNLIMITED, type FlowLimits, type ServiceOptions } from '../config/options.ts';
import { defaultSessionOptions } from '../config/resolve.ts';
import type { Metrics } from './metrics.ts';
import type { ListenerStatus, StatusDoc } from './types.ts';

/** The subset of a pino logger this module uses. */
export interface StatusLog {
  info(obj: unknown, msg?: string): void;
  error(obj: unknown, msg?: string): void;
  warn?(obj: unknown, msg?: string): void;
}

/** The endpoint's connection limits (config: Server `statusControl`). */
export interface StatusLimits {
  flow: FlowLimits;
  idleTimeoutMs: number;
  /** A request's head and body must arrive whole within this (0: no deadline). */
  requestTimeoutMs?: number;
}

const NO_LIMITS: StatusLimits = {
  flow: { maxConnections: UNLIMITED, maxIntervalConnections: UNLIMITED, timeIntervalMs: 0, peerMaxConnections: UNLIMITED,
    peerMaxIntervalConnections: UNLIMITED, peerTimeIntervalMs: 0 },
  idleTimeoutMs: 0,
  requestTimeoutMs: 0,
};

/** The endpoint as a one-listener service, for `Admission`. */
function asService(key: string, host: string, port: number, l: StatusLimits): ServiceOptions {
  return {
    name: 'statusListener' as ServiceOptions['name'], transport: 'tcp', udpListeners: [], allowRules: [], denyRules: [],
    flow: NO_LIMITS.flow, maxErrors: UNLIMITED, maxAuthErrors: UNLIMITED, minConnThreads: 1, maxConnThreads: 1, threadSessions: 1,
    threadIdleTimeoutMs: 0, connThreadHeapBytes: 0, minPoolThreads: 0, maxPoolThreads: 1, session: defaultSessionOptions(), protocol: { kind: 'none' }, hostname: host,
    listeners: [{
      key, address: { host, port, family: host.includes(':') ? 6 : 4 }, enable: true, idleTimeoutMs: l.idleTimeoutMs, flow: l.flow,
      sslEnable: false, allowRules: [], denyRules: [],
      ssl: { allowedVersions: [], certFile: null, keyFile: null, caFile: null, maxChainDepth: 0, requestClientAuth: false, cipherSuite: null },
    }],
  };
}

export interface StatusServerOptions {
  host: string;
  port: number;
  getStatus: () => StatusDoc;
  /** Metrics to serve; default `createMetrics(getStatus, mailStats)`. */
  metrics?: Metrics;
  /** The mail queue's figures for /metrics (the store thread's `queue.stats`). */
  mailStats?: () => Promise<import('./metrics.ts').MailStats>;
  log?: StatusLog;
  /** Connection limits; default none (the config always gives them). */
  limits?: StatusLimits;
}

export interface StatusServer {
  readonly port: number;
  close(): Promise<void>;
  /** New limits for new connections (a reload); open ones stay counted. */
  reconfigure(limits: StatusLimits): void;
  /** The endpoint's counts, as a /status listener entry. */
  listenerStatus(): ListenerStatus;
}

const REFUSED = 'HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\ncontent-length: 28\r\nconnection: close\r\n\r\ntoo many connections, retry\n';

const ROUTES = new Set(['/status', '/metrics', '/healthz']);

function send(res: ServerResponse, head: boolean, status: number, type: string, body: string, extra?: Record<string, string>): void {
  const buf = Buffer.from(body, 'utf8');
  res.writeHead(status, { 'content-type': type, 'content-length': buf.length, 'cache-control': 'no-store', ...extra });
  res.end(head ? undefined : buf);
}

export function startStatusServer(opts: StatusServerOptions): Promise<StatusServer> {
  const { getStatus, log } = opts;
  // prom-client is loaded on the first scrape, not at start (it costs memory on every server)
  let metrics: Metrics | undefined = opts.metrics;
  const getMetrics = async (): Promise<Metrics> => (metrics ??= (await import('./metrics.ts')).createMetrics(getStatus, opts.mailStats));

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = new URL(req.url ?? '/', 'http://status.invalid').pathname;
    if (!ROUTES.has(path)) {
      send(res, req.method === 'HEAD', 404, 'text/plain; charset=utf-8', 'not found\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(res, false, 405, 'text/plain; charset=utf-8', 'method not allowed\n', { allow: 'GET, HEAD' });
      return;
    }
    const head = req.method === 'HEAD';
    try {
      if (path === '/healthz') {
        send(res, head, 200, 'text/plain; charset=utf-8', 'ok');
      } else if (path === '/status') {
        send(res, head, 200, 'application/json; charset=utf-8', `${JSON.stringify(getStatus())}\n`);
      } else {
        const m = await getMetrics();
        const text = await m.registry.metrics();
        send(res, head, 200, m.registry.contentType, text);
      }
    } catch (e) {
      log?.error({ err: e, path }, 'status endpoint failed');
      if (!res.headersSent) send(res, head, 500, 'text/plain; charset=utf-8', 'internal error\n');
      else res.destroy();
    }
  };

  const server = createServer({ keepAliveTimeout: 5000, connectionsCheckingInterval: 1000 }, (req, res) => {
    void handle(req, res);
  });

  // admission: the same code and counts as a service listener's
  let limits = opts.limits ?? NO_LIMITS;
  // requestTimeout: a request trickled in (slowloris) is cut with 408 however often it sends a
  // byte, so a few IPs cannot hold every slot (idleTimeout counts silence only)
  const deadlines = (l: StatusLimits): void => {
    const ms = l.requestTimeoutMs ?? 0;
    server.requestTimeout = ms > 0 && Number.isFinite(ms) ? ms : 0;
    server.headersTimeout = server.requestTimeout > 0 ? server.requestTimeout : 60_000;
  };
  deadlines(limits);
  const key = `${opts.host.includes(':') ? `[${opts.host}]` : opts.host}:${opts.port}`;
  const admission = new Admission('statusListener', asService(key, opts.host, opts.port, limits), { allowRules: [], denyRules: [] });
  const quiet: WarnLogger = { warn: (o, m) => log?.warn?.(o, m) };
  const trips = new TripLogger(quiet);
  const sweeper = setInterval(() => admission.sweep(), 1000);
  sweeper.unref();
  server.on('connection', (socket: Socket) => {
    const r = admission.admit(key, socket.remoteAddress ?? '');
    if (!r.ok) {
      trips.trip('statusListener', key, r);
      socket.on('error', () => {});
      socket.write(REFUSED, () => socket.destroy());
      return;
    }
    socket.once('close', () => admission.release(r.ticket));
    if (limits.idleTimeoutMs > 0 && Number.isFinite(limits.idleTimeoutMs)) {
      socket.setTimeout(limits.idleTimeoutMs, () => socket.destroy()); // (keep-alive shortens it to 5 s)
    }
  });

  return new Promise<StatusServer>((resolve, reject) => {
    const onError = (err: Error): void => {
      reject(new PosternError('LISTEN_FAILED', `cannot listen for status on ${opts.host}:${opts.port}: ${err.message}`, undefined, { cause: err }));
    };
    server.once('error', onError);
    server.listen(opts.port, opts.host, () => {
      server.off('error', onError);
      server.on('error', (err) => log?.error({ err }, 'status server error'));
      const port = (server.address() as AddressInfo).port;
      log?.info({ host: opts.host, port }, 'status endpoint listening');
      resolve({
        port,
        reconfigure(next: StatusLimits): void {
          limits = next;
          deadlines(next);
          admission.reconfigure(asService(key, opts.host, opts.port, next), { allowRules: [], denyRules: [] });
        },
        listenerStatus(): ListenerStatus {
          const l = admission.snapshot().listeners[0]!;
          return { key: `${opts.host.includes(':') ? `[${opts.host}]` : opts.host}:${port}`, transport: 'tcp', enable: true, listening: server.listening,
            port, open: l.open, accepted: l.accepted, refused: { ...l.refused, ...l.closed } };
        },
        close: () => new Promise<void>((done) => {
          clearInterval(sweeper);
          if (!server.listening) {
            done();
            return;
          }
          server.close(() => done());
          server.closeAllConnections();
        }),
      });
    });
  });
}
