/**
 * src/control/: the local control socket `postern ctl` talks to: its server and this client.
 *
 * control/client.ts: one request over the local control socket (see control/server.ts for the
 * wire protocol).
 *
 * Exports:
 * - `controlRequest(socketPath, verb, args?, timeoutMs = 10000)`: connect, send one request,
 *   resolve with the server's `result`, then disconnect. node-ipc's reconnect loop is turned off,
 *   and the socket is destroyed and unref'd when the request settles, so a CLI process can exit.
 *
 * Throws (rejects):
 * - CONTROL_UNAVAILABLE: nothing listens on `socketPath`, the connection dropped before the
 *   reply, or no reply came within `timeoutMs` (one-line message naming the socket path).
 * - the server's error, rebuilt from its code with `errorFromData` (e.g. CONTROL_BAD_REQUEST).
 * - INTERNAL: the reply could not be understood.
 */
import { randomUUID } from 'node:crypto';
import ipcModule from 'node-ipc';
import { PosternError, errorFromData, type ErrorData } from '../errors.ts';

const CONN_ID = 'postern';

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function isErrorData(v: unknown): v is ErrorData {
  return isRecord(v) && typeof v.code === 'string' && typeof v.message === 'string';
}

export function controlRequest(
  socketPath: string,
  verb: string,
  args: Record<string, unknown> = {},
  timeoutMs = 10000,
): Promise<unknown> {
  const ipc = new ipcModule.IPC();
  ipc.config.silent = true;
  ipc.config.maxRetries = 0;
  ipc.config.stopRetrying = true;
  ipc.config.retry = 0;
  const id = randomUUID();

  return new Promise<unknown>((resolve, reject) => {
    let settled = false;
    let connected = false;

    const settle = (err: Error | undefined, result?: unknown): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      const conn = ipc.of[CONN_ID] as unknown as { socket?: { unref?: () => void } } | undefined;
      const sock = conn?.socket;
      ipc.disconnect(CONN_ID); // destroys the socket; no retry after an explicit disconnect
      sock?.unref?.();
      if (err !== undefined) reject(err);
      else resolve(result);
    };

    const unavailable = (why: string): PosternError =>
      new PosternError('CONTROL_UNAVAILABLE', `control socket ${socketPath}: ${why}`, { socketPath });

    const timer = setTimeout(() => {
      settle(unavailable(`no reply within ${timeoutMs} ms`));
    }, timeoutMs);

    ipc.connectTo(CONN_ID, socketPath, () => {
      const conn = ipc.of[CONN_ID];
      if (conn === undefined) {
        settle(unavailable('cannot connect'));
        return;
      }
      conn.on('connect', () => {
        connected = true;
        conn.emit('request', { id, verb, args });
      });
      conn.on('error', (e: unknown) => {
        if (e instanceof Error) {
          const code = (e as NodeJS.ErrnoException).code;
          const why = !connected && (code === 'ENOENT' || code === 'ECONNREFUSED')
            ? `no server is listening (${code}); is postern running?`
            : `${connected ? 'connection failed' : 'cannot connect'} (${code ?? e.message})`;
          settle(unavailable(why));
          return;
        }
        // node-ipc reports an unparsable message as event 'error' with a plain object
        settle(new PosternError('INTERNAL', `control socket ${socketPath}: unreadable reply`));
      });
      conn.on('disconnect', () => {
        settle(unavailable(connected ? 'connection closed before the reply' : 'cannot connect'));
      });
      conn.on('reply', (data: unknown) => {
        if (!isRecord(data)) {
          settle(new PosternError('INTERNAL', `control socket ${socketPath}: malformed reply`));
          return;
        }
        if (data.id !== id) {
          if (data.id === null && data.ok === false && isErrorData(data.error)) settle(errorFromData(data.error));
          return; // not ours
        }
        if (data.ok === true) settle(undefined, data.result);
        else if (isErrorData(data.error)) settle(errorFromData(data.error));
        else settle(new PosternError('INTERNAL', `control socket ${socketPath}: malformed error reply`));
      });
    });
  });
}
