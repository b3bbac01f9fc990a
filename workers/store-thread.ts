/**
 * workers/store-thread.ts: the store thread (worker_threads entry point). Runs one `Store`
 * (src/store/store.ts) over `<dataDir>/store/`, with a small piscina pool (workers/pool.ts) for
 * the password hashing of `account add|passwd`, and serves:
 *  - on its parent port (actors/store-thread.ts): `connect` (a MessagePort for a StoreClient),
 *    `stop`; it posts `ready` | `openFailed`, `info` (the store's ActorInfo, every
 *    `infoIntervalMs`) and `stopped`;
 *  - on `workerData.controlPort`, with comlink (src/actor/control.ts): `StoreControl.admin`, the
 *    ctl verbs of the command registry (src/store/admin.ts);
 *  - on each connected port: the StoreClient protocol on the port-RPC (src/store/protocol.ts).
 * Throws nothing: a failure to open is posted as `openFailed` and the thread exits.
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { createRootLogger, type LogLevel } from '../src/log.ts';
import { errorFromData, errorToData, type ErrorData } from '../src/errors.ts';
import { exposeControl } from '../src/actor/control.ts';
import { Store } from '../src/store/store.ts';
import { storeAdmin } from '../src/store/admin.ts';
import { serveStoreClient, type ServeHandle } from '../src/store/protocol.ts';
import type { StoreControl, StoreThreadWorkerData, StoreThreadIn, StoreThreadOut } from '../actors/store-thread.ts';

const data = workerData as StoreThreadWorkerData;
const parent = parentPort!;
const log = createRootLogger((data.logLevel ?? 'info') as LogLevel, { actor: 'store' });
const post = (m: StoreThreadOut): void => parent.postMessage(m);

const pool = new Piscina({
  filename: new URL('./pool.ts', import.meta.url).href,
  minThreads: 0,
  maxThreads: Math.max(1, data.poolThreads ?? 1),
  // hashing is rare (account add, passwd; the first start's postmaster): a worker held 30 s
  // after it was ~15 MB of RSS for nothing
  idleTimeout: 1_000,
});

async function hashPassword(password: string): Promise<string> {
  const v = (await pool.run({ task: 'hashPassword', payload: { password } })) as string | { __error: ErrorData };
  if (typeof v !== 'string') throw errorFromData(v.__error);
  return v;
}

const store = new Store({ ...data.options, dataDir: data.dataDir, log, hashPassword });
const served = new Set<ServeHandle>();
let clients = 0;
let infoTimer: NodeJS.Timeout | null = null;

async function stop(): Promise<void> {
  if (infoTimer !== null) clearInterval(infoTimer);
  data.controlPort.close();
  for (const h of served) h.close();
  await store.close().catch((e: unknown) => log.error({ err: e }, 'store close failed'));
  await pool.destroy().catch(() => {});
  post({ t: 'stopped' });
  parent.close();
}

const control: StoreControl = { admin: (verb, args) => storeAdmin(store, verb, args) };
exposeControl(control, data.controlPort);

parent.on('message', (raw: unknown) => {
  const m = raw as StoreThreadIn;
  switch (m.t) {
    case 'connect': {
      const owner = `${m.owner ?? 'client'}#${++clients}`;
      const h = serveStoreClient(store, m.port as MessagePort, owner);
      served.add(h);
      (m.port as MessagePort).once('close', () => served.delete(h));
      break;
    }
    case 'stop':
      void stop();
      break;
    default:
      break;
  }
});

try {
  await store.open();
  post({ t: 'ready', info: store.info() });
  infoTimer = setInterval(() => post({ t: 'info', info: store.info() }), data.infoIntervalMs ?? 1000);
  infoTimer.unref();
} catch (e) {
  log.error({ err: e }, 'store failed to open');
  post({ t: 'openFailed', e: errorToData(e) });
  await pool.destroy().catch(() => {});
  data.controlPort.close();
  parent.close();
}
