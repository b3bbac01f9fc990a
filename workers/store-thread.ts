/**
 * workers/store-thread.ts: the store thread (worker_threads entry point). Runs one `Store`
 * (src/store/store.ts) over `<dataDir>/store/`, with a small piscina pool (workers/pool.ts) for
 * the password hashing of `account add|passwd`, and serves:
 *  - on its parent port (actors/store-thread.ts): `connect` (a MessagePort for a StoreClient),
 *    `admin` (the ctl verbs, src/store/admin.ts), `stop`; it posts `ready` | `openFailed`,
 *    `adminDone`, `info` (the store's ActorInfo, every `infoIntervalMs`) and `stopped`;
 *  - on each connected port: the StoreClient protocol (src/store/protocol.ts).
 * Throws nothing: a failure to open is posted as `openFailed` and the thread exits.
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { createRootLogger, type LogLevel } from '../src/log.ts';
import { errorFromData, errorToData, type ErrorData } from '../src/errors.ts';
import { Store } from '../src/store/store.ts';
import { storeAdmin } from '../src/store/admin.ts';
import { serveStoreClient, type ServeHandle } from '../src/store/protocol.ts';
import type { StoreThreadData, StoreThreadIn, StoreThreadOut } from '../actors/store-thread.ts';

const data = workerData as StoreThreadData;
const parent = parentPort!;
const log = createRootLogger((data.logLevel ?? 'info') as LogLevel, { actor: 'store' });
const post = (m: StoreThreadOut): void => parent.postMessage(m);

const pool = new Piscina({
  filename: new URL('./pool.ts', import.meta.url).href,
  minThreads: 0,
  maxThreads: Math.max(1, data.poolThreads ?? 1),
  idleTimeout: 30_000,
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
  for (const h of served) h.close();
  await store.close().catch((e: unknown) => log.error({ err: e }, 'store close failed'));
  await pool.destroy().catch(() => {});
  post({ t: 'stopped' });
  parent.close();
}

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
    case 'admin':
      storeAdmin(store, m.verb, m.args).then(
        (v) => post({ t: 'adminDone', id: m.id, ok: true, v }),
        (e: unknown) => post({ t: 'adminDone', id: m.id, ok: false, e: errorToData(e) }),
      );
      break;
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
  parent.close();
}
