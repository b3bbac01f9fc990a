/**
 * test/http/standalone.ts: the session and view pieces (http/sessions.ts, http/views.ts,
 * http/session-table.ts) mounted on a bare fastify listening on 127.0.0.1:0 (plain or TLS),
 * with `req.postern` filled the way the host fills it (templates chosen by Host and
 * User-Agent, the session loaded from the cookie), so they are tested over real sockets with
 * curl apart from the host itself. The session table is in-process with an injected clock.
 */
import fs from 'node:fs';
import fastify, { type FastifyInstance } from 'fastify';
import type { AddressInfo } from 'node:net';
import type { HttpEnv, HttpOptions, RequestState } from '../../src/http/types.ts';
import type { SessionContext } from '../../src/service/protocol.ts';
import { sessionHelpers } from '../../src/http/sessions.ts';
import { chooseTemplates, createViews } from '../../src/http/views.ts';
import { WebSessionTable, type WebSessionLimits } from '../../src/http/session-table.ts';
import { createRootLogger } from '../../src/log.ts';

export const BASE_OPTIONS: HttpOptions = Object.freeze({
  allowKeepAlive: true,
  httpHeadersMaxSize: 16384,
  httpBodyMaxSize: 1 << 20,
  uploadMaxSize: 1 << 20,
  allowLargeIncomingData: false,
  sessionIdleTimeoutMs: 60_000,
  sessionActivityTimeoutMs: 600_000,
  path: '',
  virtualHosts: [],
  urlRedirect: null,
});

export interface Standalone {
  port: number;
  url: string;
  table: WebSessionTable;
  /** Move the table's clock. */
  advance(ms: number): void;
  setOptions(o: Partial<HttpOptions>): void;
  close(): Promise<void>;
}

export async function standalone(o: {
  setup: (app: FastifyInstance, env: HttpEnv) => void | Promise<void>;
  templates: URL;
  options?: Partial<HttpOptions>;
  tls?: { certFile: string; keyFile: string };
}): Promise<Standalone> {
  let options: HttpOptions = { ...BASE_OPTIONS, ...o.options };
  let clock = Date.now();
  const limits = (): WebSessionLimits => ({ sessionIdleTimeoutMs: options.sessionIdleTimeoutMs, sessionActivityTimeoutMs: options.sessionActivityTimeoutMs, maxSessions: 1000 });
  const table = new WebSessionTable(limits, () => clock);
  const log = createRootLogger('silent', {});
  const secure = o.tls !== undefined;
  const app = (o.tls === undefined ? fastify() : fastify({ https: { cert: fs.readFileSync(o.tls.certFile), key: fs.readFileSync(o.tls.keyFile) } })) as unknown as FastifyInstance;
  const helpers = sessionHelpers(() => options);
  const views = createViews(() => options);
  app.decorateRequest('postern', null as unknown as RequestState);
  app.addHook('onRequest', async (req) => {
    const conn = { connId: 't.c1', remoteAddress: req.socket.remoteAddress ?? '', secure, log, webSessions: table } as unknown as SessionContext;
    req.postern = { conn, secure, secureUrl: null, templates: chooseTemplates(options, o.templates, req.headers.host, req.headers['user-agent']), session: null };
    req.postern.session = await helpers.load(req);
  });
  const env: HttpEnv = { options: () => options, sessions: table, views, store: null, log, ...helpers };
  await o.setup(app, env);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const port = (app.server.address() as AddressInfo).port;
  return {
    port,
    url: `${secure ? 'https' : 'http'}://127.0.0.1:${port}`,
    table,
    advance: (ms) => void (clock += ms),
    setOptions: (x) => void (options = { ...options, ...x }),
    close: () => app.close(),
  };
}
