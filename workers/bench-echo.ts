/**
 * workers/ (the top layer, with actors/): thread entry points: the connection thread, the store
 * thread, the piscina pool's tasks, and the benchmarks' echo workers (here).
 *
 * workers/bench-echo.ts: the worker side of bench/actors.ts: one echo actor served on the
 * MessagePort passed as `workerData.port`. A message `0` is counted and echoed; any other
 * number is counted too and the running count is returned (so a barrier ask tells the bench
 * how many tells arrived). On `workerData.rawPort` each message is posted straight back; on
 * `rpcPort` the port-RPC (src/actor/rpc.ts) echoes each call; on `controlPort` comlink
 * (src/actor/control.ts) exposes `echo(v)`. Throws nothing.
 */
import { workerData } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';
import { Actor } from '../src/actor/actor.ts';
import { serveActor } from '../src/actor/remote.ts';
import { serveRpc } from '../src/actor/rpc.ts';
import { exposeControl } from '../src/actor/control.ts';

const { port, rawPort, rpcPort, controlPort } = workerData as { port?: MessagePort; rawPort?: MessagePort; rpcPort?: MessagePort; controlPort?: MessagePort };
// the raw row: each message straight back, no envelope
rawPort?.on('message', (v) => rawPort.postMessage(v));
if (rpcPort !== undefined) serveRpc<unknown>(rpcPort, (v) => v);
if (controlPort !== undefined) exposeControl({ echo: async (v: unknown) => v }, controlPort);
let count = 0;
const echo = new Actor<number, number>({
  id: 'bench-echo',
  handler: (n) => {
    count++;
    return n === 0 ? n : count;
  },
});
if (port !== undefined) serveActor(echo, port);
