/**
 * actor/control.ts: control-plane calls between threads with comlink: a thread exposes an
 * object of async methods on a MessagePort, the other side calls them as plain methods. For the
 * calls where a plain remote call is what is needed and the rate is low (the store's admin
 * verbs of the command registry, admin/commands.ts); the hot paths use the port-RPC
 * (actor/rpc.ts), measured beside this in bench/actors.ts.
 *
 *   exposeControl({ admin: (verb, args) => … }, port);                 // the serving thread
 *   const ctl = controlProxy<StoreControl>(port);                      // the calling thread
 *   await bounded(ctl.admin('domain.add', { name }), { timeoutMs, what: 'store admin', ended });
 *
 * What comlink does not do, this module adds: errors cross as `ErrorData` and are rebuilt from
 * their code (comlink's own 'throw' handler keeps only message and name; it is replaced here,
 * for every comlink use in the thread, on import), and `bounded` gives a call a deadline
 * (ACTOR_TIMEOUT) and ends it when the far side does (comlink calls otherwise wait forever).
 *
 * Exports: `exposeControl`, `controlProxy`, `releaseControl`, `bounded`, `Remote`.
 * Rejects: `bounded` → ACTOR_TIMEOUT | the `ended` promise's error | the call's own error.
 */
import { expose, releaseProxy, transferHandlers, wrap, type Endpoint, type Remote } from 'comlink';
import adapter from 'comlink/dist/umd/node-adapter.js';
import type { MessagePort } from 'node:worker_threads';
import { PosternError, errorFromData, errorToData, type ErrorData } from '../errors.ts';

export type { Remote } from 'comlink';

// a CommonJS module whose module.exports is the function (its .d.ts says `export default`)
const nodeEndpoint = adapter as unknown as (port: MessagePort) => Endpoint;

type Thrown = { isError: true; value: ErrorData } | { isError: false; value: unknown };

const comlinkThrow = transferHandlers.get('throw')!;
transferHandlers.set('throw', {
  canHandle: comlinkThrow.canHandle,
  serialize: (thrown: unknown) => [{ isError: true, value: errorToData((thrown as { value: unknown }).value) } satisfies Thrown, []],
  deserialize: (s: unknown) => {
    const t = s as Thrown;
    throw t.isError ? errorFromData(t.value) : t.value;
  },
});

/** Serve `obj`'s methods on `port` (until the port closes). */
export function exposeControl(obj: object, port: MessagePort): void {
  expose(obj, nodeEndpoint(port));
}

/** Call the methods exposed on the other end of `port`. */
export function controlProxy<T>(port: MessagePort): Remote<T> {
  return wrap<T>(nodeEndpoint(port));
}

/** Stop listening on the proxy's port (calls in flight are left to `bounded`). */
export function releaseControl(proxy: Remote<unknown>): void {
  proxy[releaseProxy]();
}

/** `p` with a deadline, ended early by `ended` (e.g. the far thread's exit). */
export function bounded<T>(p: Promise<T>, opts: { timeoutMs: number; what: string; ended?: Promise<never> }): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    if (Number.isFinite(opts.timeoutMs)) {
      timer = setTimeout(() => reject(new PosternError('ACTOR_TIMEOUT', `${opts.what} did not answer in ${opts.timeoutMs} ms`, { timeoutMs: opts.timeoutMs })), opts.timeoutMs);
    }
  });
  const racers: Array<Promise<T>> = [p, deadline];
  if (opts.ended !== undefined) racers.push(opts.ended);
  return Promise.race(racers).finally(() => clearTimeout(timer));
}
