/**
 * control/server.ts: the local control socket `postern ctl` talks to (node-ipc over a unix socket).
 *
 * Wire protocol (node-ipc JSON messages): the client sends event `request` with
 * `{ id, verb, args }`; the server answers event `reply` with `{ id, ok: true, result }` or
 * `{ id, ok: false, error: ErrorData }`. Requests on one connection are handled concurrently and
 * matched by `id`. A malformed request (bad JSON, wrong shape) or a verb not in `verbs` is
 * answered with CONTROL_BAD_REQUEST (with `id: null` when no id could be read). Messages with
 * another event name are ignored: node-ipc's catch-all ('*') is broken on Node >= 10 (its
 * event-pubsub picks the ES5 build by `process.version[1] > 5`), so they cannot be seen.
 *
 * Exports:
 * - `CONTROL_VERBS`: the verbs `postern ctl` sends (the default `verbs` allow-list), the
 *   operators' commands of the registry (admin/commands.ts).
 * - `startControlServer(opts)`: listen on exactly `opts.socketPath` (its directory is created with
 *   mode 0700, the socket file gets mode 0600, a stale socket file is removed first); resolves
 *   to `{ close() }` once listening. `close()` drops open connections and removes the socket file.
 * - `ControlLog`, `ControlDispatch`, `ControlServerOptions`, `ControlServer`, `ControlRequest`,
 *   `ControlReply` (types).
 *
 * Throws (rejects): LISTEN_FAILED when another server answers on the path, the path exists and
 * is not a socket, or listen() fails. Errors thrown by `dispatch` go back to the client as data
 * (non-Postern errors as INTERNAL, and are logged).
 */
import { chmodSync, lstatSync, mkdirSync, unlinkSync } from 'node:fs';
import { connect, type Server as NetServer, Socket } from 'node:net';
import { dirname } from 'node:path';
import ipcModule from 'node-ipc';
import { PosternError, errorToData, type ErrorData } from '../errors.ts';
import { COMMANDS } from '../admin/commands.ts';

/** The operators' commands of the registry (admin/commands.ts), internal calls left out. */
export const CONTROL_VERBS: readonly string[] = Object.freeze(COMMANDS.filter((c) => c.ctl !== null).map((c) => c.name));

/** The subset of a pino logger this module uses. */
export interface ControlLog {
  debug(obj: unknown, msg?: string): void;
  info(obj: unknown, msg?: string): void;
  warn(obj: unknown, msg?: string): void;
  error(obj: unknown, msg?: string): void;
}

export type ControlDispatch = (verb: string, args: Record<string, unknown>) => Promise<unknown>;

export interface ControlServerOptions {
  socketPath: string;
  dispatch: ControlDispatch;
  /** Verbs accepted; anything else is CONTROL_BAD_REQUEST without calling dispatch. */
  verbs?: readonly string[];
  log?: ControlLog;
}

export interface ControlServer {
  readonly socketPath: string;
  close(): Promise<void>;
}

export interface ControlRequest {
  id: string | number;
  verb: string;
  args?: Record<string, unknown>;
}

export type ControlReply =
  | { id: string | number | null; ok: true; result: unknown }
  | { id: string | number | null; ok: false; error: ErrorData };

type IpcInstance = InstanceType<typeof ipcModule.IPC>;

/** The parts of node-ipc's socket server its type declarations leave out. */
interface IpcServerInternals {
  server: NetServer | false;
  sockets: Socket[];
  on(event: string, handler: (...args: unknown[]) => void): unknown;
  emit(socket: Socket, event: string, value?: unknown): unknown;
  start(): void;
}

const VERB_RE = /^[a-z][a-z0-9_-]*(\.[a-z][a-z0-9_-]*)*$/;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function badRequest(message: string): ErrorData {
  return errorToData(new PosternError('CONTROL_BAD_REQUEST', message));
}

/** Check a request's shape; returns the error to send back, or the validated request. */
function validate(data: unknown, verbs: ReadonlySet<string>): { id: string | number | null; error?: ErrorData; req?: ControlRequest } {
  if (!isPlainObject(data)) return { id: null, error: badRequest('request must be an object { id, verb, args }') };
  const id = data.id;
  if (typeof id !== 'string' && !(typeof id === 'number' && Number.isFinite(id))) {
    return { id: null, error: badRequest('request id must be a string or a finite number') };
  }
  const verb = data.verb;
  if (typeof verb !== 'string' || !VERB_RE.test(verb)) return { id, error: badRequest('request verb must be a verb name') };
  if (!verbs.has(verb)) return { id, error: badRequest(`unknown verb '${verb}'`) };
  const args = data.args ?? {};
  if (!isPlainObject(args)) return { id, error: badRequest('request args must be an object') };
  return { id, req: { id, verb, args } };
}

/** Is something answering on this unix socket path? */
function probe(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ path: socketPath });
    const done = (alive: boolean): void => {
      s.removeAllListeners();
      s.on('error', () => {});
      s.destroy();
      resolve(alive);
    };
    s.setTimeout(1000, () => done(true)); // accepted but silent: treat as alive
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

/** Create the directory, refuse a live or non-socket path, and remove a stale socket file. */
async function prepare(socketPath: string): Promise<void> {
  mkdirSync(dirname(socketPath), { recursive: true, mode: 0o700 });
  let st;
  try {
    st = lstatSync(socketPath);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  if (!st.isSocket()) {
    throw new PosternError('LISTEN_FAILED', `control socket path ${socketPath} exists and is not a socket`);
  }
  if (await probe(socketPath)) {
    throw new PosternError('LISTEN_FAILED', `control socket ${socketPath} is in use by a running server`);
  }
  try {
    unlinkSync(socketPath);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}

export async function startControlServer(opts: ControlServerOptions): Promise<ControlServer> {
  const { socketPath, dispatch, log } = opts;
  const verbs: ReadonlySet<string> = new Set(opts.verbs ?? CONTROL_VERBS);
  try {
    await prepare(socketPath);
  } catch (e) {
    if (e instanceof PosternError) throw e;
    throw new PosternError('LISTEN_FAILED', `cannot prepare control socket ${socketPath}: ${(e as Error).message}`, undefined, { cause: e });
  }

  const ipc: IpcInstance = new ipcModule.IPC();
  ipc.config.silent = true;
  ipc.config.unlink = false; // prepare() already removed a stale file, and only a stale one
  ipc.config.maxConnections = 32;
  ipc.serve(socketPath);
  const srv = ipc.server as unknown as IpcServerInternals;
  let closed = false;
  let started = false;

  const send = (socket: Socket, reply: ControlReply): void => {
    if (closed || socket.destroyed) return;
    try {
      srv.emit(socket, 'reply', reply);
    } catch (e) {
      // e.g. a result JSON cannot encode (BigInt, cycles): answer with the error instead
      log?.error({ err: e, id: reply.id }, 'control reply could not be encoded');
      if (reply.ok) srv.emit(socket, 'reply', { id: reply.id, ok: false, error: errorToData(new PosternError('INTERNAL', 'reply could not be encoded')) });
    }
  };

  const handle = async (socket: Socket, data: unknown): Promise<void> => {
    const v = validate(data, verbs);
    if (v.req === undefined) {
      log?.warn({ error: v.error }, 'bad control request');
      send(socket, { id: v.id, ok: false, error: v.error ?? badRequest('bad request') });
      return;
    }
    const { id, verb, args } = v.req;
    try {
      const result = await dispatch(verb, args ?? {});
      send(socket, { id, ok: true, result: result ?? null });
    } catch (e) {
      if (!(e instanceof PosternError)) log?.error({ err: e, verb }, 'control verb failed');
      else log?.debug({ code: e.code, verb }, 'control verb refused');
      send(socket, { id, ok: false, error: errorToData(e) });
    }
  };

  srv.on('request', (data: unknown, socket: unknown) => {
    if (socket instanceof Socket) void handle(socket, data);
  });

  return new Promise<ControlServer>((resolve, reject) => {
    srv.on('error', (err: unknown, socket: unknown) => {
      // node-ipc publishes 'error' for listen errors, socket errors, and unparsable JSON
      if (!started && err instanceof Error) {
        closed = true;
        reject(new PosternError('LISTEN_FAILED', `cannot listen on control socket ${socketPath}: ${err.message}`, undefined, { cause: err }));
        return;
      }
      if (err instanceof Error) {
        log?.debug({ err }, 'control connection error');
        return;
      }
      if (socket instanceof Socket) send(socket, { id: null, ok: false, error: badRequest('request is not valid JSON') });
    });
    srv.on('start', () => {
      started = true;
      try {
        chmodSync(socketPath, 0o600);
      } catch (e) {
        log?.warn({ err: e, socketPath }, 'cannot chmod control socket');
      }
      log?.info({ socketPath }, 'control socket listening');
      resolve({
        socketPath,
        close: () => closeServer(srv, socketPath, () => { closed = true; }),
      });
    });
    srv.start();
  });
}

function closeServer(srv: IpcServerInternals, socketPath: string, markClosed: () => void): Promise<void> {
  markClosed();
  return new Promise<void>((resolve) => {
    for (const s of srv.sockets) s.destroy();
    srv.sockets.length = 0;
    const net = srv.server;
    const finish = (): void => {
      try {
        unlinkSync(socketPath);
      } catch {
        // already gone
      }
      resolve();
    };
    if (net === false || !net.listening) {
      finish();
      return;
    }
    net.close(() => finish());
  });
}
