/**
 * status/http.ts: the status HTTP endpoint (node:http).
 *
 *   GET /status  → 200 application/json: the StatusDoc (Infinity, NaN rendered as null)
 *   GET /metrics → 200 Prometheus text format (content type from the prom-client registry)
 *   GET /healthz → 200 text/plain "ok"
 *   anything else → 404; a known path with a method other than GET/HEAD → 405 (Allow: GET, HEAD)
 * A `getStatus` or metrics failure answers 500 and is logged.
 *
 * Exports: `startStatusServer(opts)` → `{ port, close() }` once listening (port 0 picks a free
 * port; `port` is the bound one). `close()` stops accepting and drops open connections at once.
 * `StatusServerOptions`, `StatusServer`, `StatusLog` (types).
 *
 * Throws (rejects): LISTEN_FAILED when the address cannot be bound.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PosternError } from '../errors.ts';
import type { Metrics } from './metrics.ts';
import type { StatusDoc } from './types.ts';

/** The subset of a pino logger this module uses. */
export interface StatusLog {
  info(obj: unknown, msg?: string): void;
  error(obj: unknown, msg?: string): void;
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
}

export interface StatusServer {
  readonly port: number;
  close(): Promise<void>;
}

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

  const server = createServer({ keepAliveTimeout: 5000 }, (req, res) => {
    void handle(req, res);
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
        close: () => new Promise<void>((done) => {
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
