/**
 * http/host.ts: the HTTP service host (see http/types.ts): `httpProtocol(spec)` makes the
 * ProtocolModule an HTTP service's connection threads run.
 *
 * One fastify 5 instance per thread and options version: its `http.Server` (made by fastify's
 * `serverFactory`, never listening) is built with the options' `maxHeaderSize`
 * (httpHeadersMaxSize) and `headersTimeout` (the session's commandTimeout), which node fixes
 * when the server is made, so a reload that changes the service's options builds a new instance
 * for new connections while the old one finishes its own (and is closed after its last). Each
 * admitted socket (already through rules, flow windows and TLS: workers/conn-thread.ts) is
 * emitted to it as a 'connection'. node's own keep-alive timer is off: an idle connection is
 * bounded by the listener's idleTimeout, which the thread keeps.
 *
 * A request goes through http/limits.ts (`guardRequest`: security headers, keep-alive, body
 * limits, maxErrors) before fastify; requests wait for the instance to be ready (`spec.setup`
 * and `app.ready()`, once per instance). fastify's first hook fills `req.postern`
 * (`RequestState`: the connection, TLS or not, the templates for its Host and User-Agent, the
 * secure-login URL, the session of its cookie) and, with `UrlRedirect` auto, answers a plain
 * `GET /` with a 301 to the TLS listener.
 *
 * Pipelined requests run one at a time: the next waits until the answer before it is finished
 * and no more than maxPendingOutput of the connection's output is unsent, and the connection is
 * not read meanwhile; more than maxPipelinedRequests waiting closes it. node alone would run
 * every request of a read at once and count an answer done once it is handed to the socket, so
 * a client that pipelines and never reads would grow the thread's memory without bound.
 *
 * The session handle: `shutdown()` closes an idle connection at once and one with a request in
 * flight once it is answered (that answer says `Connection: close`), and one holding an event
 * stream (`text/event-stream`, which never finishes by itself) at once; `shutdown(true)` and
 * `idleTimeout()` destroy it. A parse error is answered by status (431 headers too large, 408
 * headers too slow, 400) with `Connection: close`, counted as `http.<status>`.
 *
 * Exports: `httpProtocol`, `httpOptionsOf`, `secureUrlFor`.
 * Throws: INTERNAL (`httpOptionsOf` for a service whose options are not HTTP options).
 */
import http from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import Fastify from 'fastify';
import type { FastifyInstance } from 'fastify';
import type { ProtocolModule, SessionContext, SessionHandle, SessionTable } from '../service/protocol.ts';
import type { HttpOptions, ServiceOptions } from '../config/options.ts';
import { parseEndpoint } from '../config/values.ts';
import type { HttpEnv, HttpServiceSpec, RequestState } from './types.ts';
import { PosternError } from '../errors.ts';
import { chooseTemplates, createViews } from './views.ts';
import { sessionHelpers } from './sessions.ts';
import { bodyLimitFor, clientErrorReply, guardRequest, type ConnLimitsState, type RequestLimits } from './limits.ts';

/** The service's HTTP options (kind 'http', 'webmail' or 'webmailProxy'); INTERNAL for any other kind. */
export function httpOptionsOf(service: Pick<ServiceOptions, 'name' | 'protocol'>): HttpOptions {
  const p = service.protocol;
  if (p.kind === 'http' || p.kind === 'webmail' || p.kind === 'webmailProxy') return p;
  throw new PosternError('INTERNAL', `service ${service.name} has ${p.kind} options, not HTTP options`, { service: service.name, kind: p.kind });
}

const HOST_NAME = /^(?:[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?)(?:\.[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?)*$/i;

/** The secure-login URL for a request that came in plain (UrlRedirect), null on TLS or without
 * a redirect. The host is the redirect's, else the request's Host name when it is a plain host
 * name or IP (never echoed otherwise), else the TLS listener's address. */
export function secureUrlFor(o: HttpOptions, secure: boolean, hostHeader: string | undefined): string | null {
  const r = o.urlRedirect;
  if (secure || r === null) return null;
  const target = parseEndpoint(r.address);
  let host = r.host;
  if (host === '') {
    const h = (hostHeader ?? '').trim();
    const name = h.startsWith('[') ? h.slice(0, h.indexOf(']') + 1) : h.replace(/:\d*$/, '');
    host = HOST_NAME.test(name) || /^\[[0-9a-f:.]+\]$/i.test(name) ? name.toLowerCase() : target.family === 6 ? `[${target.host}]` : target.host;
  }
  const port = r.port !== 0 ? r.port : target.port;
  return `https://${host}${port === 443 ? '' : `:${port}`}/`;
}

interface Conn extends ConnLimitsState {
  readonly ctx: SessionContext;
  readonly socket: Socket;
  readonly inst: Instance;
  requests: number;
  /** A request is with fastify (its answer not finished). */
  running: boolean;
  /** Pipelined requests waiting for it, in order. */
  readonly waiting: Array<{ res: ServerResponse; run: () => void }>;
  /** The response being answered (null between requests). */
  current: ServerResponse | null;
}

interface Instance {
  readonly key: string;
  readonly server: http.Server;
  readonly app: FastifyInstance;
  readonly limits: RequestLimits;
  /** Resolved once setup and app.ready() are done; false: they failed. */
  readonly ready: Promise<boolean>;
  isReady: boolean | null;
  conns: number;
  retired: boolean;
}

/** Web sessions need the service host's table (SessionContext.webSessions); without it (a
 * thread run without one), every use fails. */
const NO_SESSIONS: SessionTable = {
  create: () => Promise.reject(new PosternError('NOT_IMPLEMENTED', 'no web session table on this connection')),
  get: async () => null,
  destroy: async () => {},
};

export function httpProtocol(spec: HttpServiceSpec): ProtocolModule {
  const conns = new WeakMap<object, Conn>(); // the socket node's http.Server sees → its connection
  let current: Instance | null = null;

  function optionsKey(s: ServiceOptions): string {
    return JSON.stringify([s.protocol, s.session, s.maxErrors]);
  }

  function createInstance(service: ServiceOptions, ctx: SessionContext): Instance {
    const o = httpOptionsOf(service);
    const limits: RequestLimits = { http: o, session: service.session, maxErrors: service.maxErrors };
    let server!: http.Server;
    const onClientError = (err: NodeJS.ErrnoException, socket: Socket): void => {
      const conn = conns.get(socket);
      const reply = socket.destroyed ? null : clientErrorReply(err);
      if (reply === null) {
        socket.destroy();
        return;
      }
      if (conn !== undefined && !socket.writableEnded) conn.count(`http.${reply.status}`);
      const res = (socket as unknown as { _httpMessage?: ServerResponse | null })._httpMessage;
      if (socket.writable && !socket.writableEnded && (res === undefined || res === null || !res.headersSent)) socket.write(reply.bytes);
      if (conn !== undefined) conn.ctx.end(reply.status === 408 ? 'idle_timeout' : 'error', socket);
      else socket.destroySoon();
    };
    const app = Fastify({
      logger: false,
      // our limits (http/limits.ts) trip first; fastify's parsers never need their own
      bodyLimit: Math.max(o.httpBodyMaxSize, o.uploadMaxSize) + 1,
      clientErrorHandler: onClientError,
      return503OnClosing: false,
      forceCloseConnections: false,
      serverFactory: (handler) => {
        const route = (req: IncomingMessage, res: ServerResponse): void => {
          const conn = conns.get(req.socket);
          if (conn === undefined || conn.socket.destroyed) {
            res.destroy(); // the rest of a read parsed after the connection was dropped
            return;
          }
          conn.requests++;
          if (!guardRequest(conn, inst.limits, req, res)) return;
          const run = (): void => {
            if (inst.isReady === true) handler(req, res);
            else void inst.ready.then((ok) => (ok ? handler(req, res) : unavailable(res)));
          };
          // pipelined requests are run one at a time, and the connection is not read while one
          // waits (node itself pauses only between reads, and an answer counts as done once it
          // is handed to the socket); more than maxPipelinedRequests waiting closes it
          if (conn.running || conn.waiting.length > 0) {
            if (conn.waiting.length >= (o.maxPipelinedRequests ?? 16)) {
              conn.count('http.pipelined_over_limit');
              conn.destroy('error');
              return;
            }
            conn.waiting.push({ res, run });
            conn.socket.pause();
            return;
          }
          start(conn, res, run);
        };
        server = http.createServer(
          {
            maxHeaderSize: o.httpHeadersMaxSize,
            headersTimeout: service.session.commandTimeoutMs,
            requestTimeout: 0, // a body is held to minDataRate instead (http/limits.ts)
            keepAliveTimeout: 0, // idle connections: the listener's idleTimeout (the thread's timer)
            connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(service.session.commandTimeoutMs / 4))),
          },
          route,
        );
        // a client waiting for 100 Continue gets it only when its declared body fits
        server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
          if (Number(req.headers['content-length'] ?? 0) <= bodyLimitFor(o, req)) res.writeContinue();
          route(req, res);
        });
        server.on('timeout', () => {}); // the thread's idle timer decides (SessionHandle.idleTimeout)
        return server;
      },
    });
    // node checks headersTimeout only once its server has emitted 'listening'
    server.emit('listening');
    const helpers = sessionHelpers(() => o);
    const views = createViews(() => o);
    const env: HttpEnv = {
      options: () => o,
      sessions: ctx.webSessions ?? NO_SESSIONS,
      views,
      store: ctx.store,
      log: ctx.log.child({ http: service.name }),
      requireSession: helpers.requireSession,
      sameOrigin: helpers.sameOrigin,
      login: helpers.login,
      logout: helpers.logout,
    };
    app.decorateRequest('postern', null as unknown as RequestState);
    app.addHook('onRequest', async (req, reply) => {
      const conn = conns.get(req.raw.socket)!;
      const secure = conn.ctx.secure;
      const secureUrl = secureUrlFor(o, secure, req.headers.host);
      if (secureUrl !== null && o.urlRedirect?.auto === true && (req.method === 'GET' || req.method === 'HEAD') && req.url === '/') {
        return reply.code(301).header('location', secureUrl).type('text/plain; charset=utf-8').send(`Moved to ${secureUrl}\n`);
      }
      req.postern = {
        conn: conn.ctx,
        secure,
        templates: chooseTemplates(o, spec.templates, req.headers.host, req.headers['user-agent']),
        secureUrl,
        session: null,
      };
      req.postern.session = await helpers.load(req);
    });
    // fastify's own logger is off: a failing route is logged here, with its connection
    app.addHook('onError', async (req, _reply, err) => {
      const status = (err as { statusCode?: number }).statusCode ?? 500;
      if (status >= 500) (req.postern?.conn.log ?? env.log).error({ err, url: req.url, method: req.method }, 'HTTP request failed');
    });
    const ready = (async () => {
      await spec.setup(app, env);
      await app.ready();
    })().then(
      () => ((inst.isReady = true), true),
      (e: unknown) => {
        ctx.log.error({ err: e }, 'HTTP service setup failed');
        inst.isReady = false;
        return false;
      },
    );
    const inst: Instance = { key: optionsKey(service), server, app, limits, ready, isReady: null, conns: 0, retired: false };
    return inst;
  }

  /** Run a request; the next waiting one runs when its answer is finished and the socket has
   * no more than maxPendingOutput unsent (else once it drains). */
  function start(conn: Conn, res: ServerResponse, run: () => void): void {
    conn.running = true;
    conn.current = res;
    res.once('close', () => {
      conn.current = null;
      const socket = conn.socket;
      const next = (): void => {
        conn.running = false;
        if (socket.destroyed) {
          conn.waiting.length = 0; // nobody to answer
          return;
        }
        if (conn.closing && conn.inFlight === 0) {
          conn.ctx.end('shutdown', socket); // shutdown asked while this one was answered
          return;
        }
        const n = conn.waiting.shift();
        if (n !== undefined) start(conn, n.res, n.run);
        else socket.resume();
      };
      if (!socket.destroyed && socket.writableLength > conn.inst.limits.session.maxPendingOutputBytes) {
        socket.pause();
        socket.once('drain', next);
      } else next();
    });
    run();
  }

  function unavailable(res: ServerResponse): void {
    if (res.headersSent) return void res.destroy();
    res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8', connection: 'close' });
    res.end('503 Service Unavailable\n');
  }

  function closeInstance(inst: Instance): void {
    inst.server.close(); // clears node's connection checks
    void inst.app.close().catch(() => {});
  }

  function release(inst: Instance): void {
    inst.conns--;
    if (inst.retired && inst.conns === 0) closeInstance(inst);
  }

  return {
    refusal(reason) {
      const status = reason === 'deny_rule' || reason === 'auth_ban' ? 403 : 503;
      const body = `${status} ${http.STATUS_CODES[status]} (${reason})\n`;
      return `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
    },

    startSession(socket: Socket, ctx: SessionContext): SessionHandle {
      const key = optionsKey(ctx.service);
      if (current === null || current.key !== key) {
        if (current !== null) {
          current.retired = true;
          if (current.conns === 0) closeInstance(current);
        }
        current = createInstance(ctx.service, ctx);
      }
      const inst = current;
      inst.conns++;
      const conn: Conn = {
        ctx,
        socket,
        inst,
        requests: 0,
        running: false,
        waiting: [],
        current: null,
        errors: 0,
        inFlight: 0,
        closing: false,
        closeReason: null,
        count: (event) => ctx.count(event),
        destroy: (reason) => {
          ctx.end(reason, socket);
          socket.destroy();
        },
      };
      conns.set(socket, conn);
      socket.once('close', () => release(inst));
      // an answer that closes the connection: tell the thread why, once it is written
      inst.server.emit('connection', socket);
      socket.on('finish', () => {
        if (conn.closeReason !== null) ctx.end(conn.closeReason, socket);
      });
      return {
        info: () => ({
          id: ctx.connId,
          kind: 'session',
          state: 'running',
          mailboxDepth: conn.inFlight,
          mailboxCapacity: 0,
          restarts: 0,
          extra: { protocol: 'http', requests: conn.requests, errors: conn.errors },
        }),
        shutdown(now?: boolean) {
          conn.closing = true;
          // an event stream never finishes by itself: it ends now (the browser reconnects later)
          const streaming = String(conn.current?.getHeader('content-type') ?? '').startsWith('text/event-stream');
          if (now === true || conn.inFlight === 0 || streaming) {
            ctx.end('shutdown', socket);
            if (now === true) socket.destroy();
          }
        },
        idleTimeout() {
          ctx.end('idle_timeout', socket);
          socket.destroy();
        },
      };
    },
  };
}
