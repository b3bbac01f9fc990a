/**
 * test/probed.ts: a running server for the protocol tests (POP3, IMAP) with the store probe
 * fixture (test/fixtures/store-probe.ts) in a test-only slot, testProbe, to deliver mail and read
 * what the store holds while protocol sessions are open; the config block of a protocol service
 * with a plain (STARTTLS) and an implicit-TLS listener; a throwaway certificate.
 *
 * Exports: `startProbed`, `ProbedServer`, `serviceBlock`, `selfSignedCert`.
 * Throws: startProbed rejects when the server does not start; the probe operations reject on a
 * store error (the probe's -ERR line).
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { startServer, type Server } from '../actors/server.ts';
import { probeLink } from './helpers.ts';
import { TEST_PROBE } from './fixtures/test-services.ts';

/** A throwaway self-signed certificate (CN=localhost) in `dir`: cert.pem and key.pem. */
export function selfSignedCert(dir: string): { certFile: string; keyFile: string } {
  const certFile = path.join(dir, 'cert.pem');
  const keyFile = path.join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', '/CN=localhost'], { stdio: 'ignore' });
  return { certFile, keyFile };
}

/** A protocol service's block in a test config: `name = { listeners … }`, one connection thread,
 * no auth failure delay unless `extra` sets one. With `ssl` (an sslControl attribute), the plain
 * listener on 127.0.0.1 has it (STARTTLS/STLS) and an implicit-TLS one follows on 127.0.0.2. */
export function serviceBlock(name: string, o: { ssl?: string; listener?: string; tlsListener?: string; threads?: string; extra?: string } = {}): string {
  const plain = `{ address = 127.0.0.1:0 ${o.ssl ?? ''} ${o.listener ?? ''} }`;
  const tls = o.ssl === undefined ? '' : `{ address = 127.0.0.2:0 sslEnable = yes ${o.ssl} ${o.tlsListener ?? ''} }`;
  return `${name} = {
        listeners = ( ${plain} ${tls} )
        ${o.threads ?? 'minConnThreads = 1 maxConnThreads = 1'}
        ${/authFailureDelay/.test(o.extra ?? '') ? '' : 'authFailureDelay = 0'}
        ${o.extra ?? ''}
    }`;
}

/** A running server with the store probe (test/fixtures/store-probe.ts) on 127.0.0.3, and the
 * probe's operations. */
export interface ProbedServer {
  server: Server;
  dir: string;
  /** Store a message in a folder of an account (as a delivery does); resolves its UID. */
  deliver(address: string, text: string | Buffer, folder?: string): Promise<number>;
  /** `count` messages of about `size` bytes into the INBOX. */
  bulk(address: string, count: number, size: number): Promise<void>;
  /** An INBOX message's flags (null: no such message). */
  flags(address: string, uid: number): Promise<string[] | null>;
  /** The INBOX's UIDs. */
  uids(address: string): Promise<number[]>;
  /** A probe command answering JSON (`DIGEST`, `ALLFLAGS`) for an account. */
  probeJson(command: string, address: string): Promise<any>;
  addUser(address: string, password: string, more?: Record<string, unknown>): Promise<void>;
  stop(): Promise<void>;
}

/** Start a server on `dir` with `services` (their blocks in `body`, see `serviceBlock`) and the
 * store probe beside them. */
export async function startProbed(o: { dir: string; services: string[]; body: string }): Promise<ProbedServer> {
  const configText = `
Server {
    services = (${[...o.services, 'testProbe'].join(' ')})
    primaryDomain = "example.org"
    statusListener = 127.0.0.1:0
    logLevel = error
    ${o.body}
    testProbe = { listeners = ( { address = 127.0.0.3:0 } ) }
}`;
  const server = await startServer({ configText, dataDir: o.dir, statusPort: 0, controlSocket: false, testServices: [TEST_PROBE], backoffInitialMs: 100, loadIntervalMs: 200 });
  const link = probeLink(() => server.port('testProbe'), '127.0.0.3');
  const { ask, ok } = link;
  return {
    server,
    dir: o.dir,
    deliver: (address, text, folder = 'INBOX') => ask(async (c) => {
      const b = Buffer.from(text);
      c.socket.write(`APPEND ${address} ${folder} ${b.length}\r\n`);
      c.socket.write(b);
      return Number(ok(await c.read(20_000)));
    }),
    bulk: (address, count, size) => ask(async (c) => void ok(await c.cmd(`BULK ${address} INBOX ${count} ${size}`, 120_000))),
    flags: (address, uid) => ask(async (c) => {
      const l = await c.cmd(`FLAGS ${address} ${uid}`);
      return l.startsWith('-ERR') ? null : ok(l).split(' ').filter((x) => x !== '');
    }),
    uids: (address) => ask(async (c) => ok(await c.cmd(`UIDS ${address}`)).split(' ').filter((x) => x !== '').map(Number)),
    probeJson: async (command, address) => JSON.parse(ok(await ask((c) => c.cmd(`${command} ${address}`, 20_000)))),
    addUser: async (address, password, more = {}) => void (await server.admin('account.add', { address, password, ...more })),
    stop: async () => {
      link.close();
      await server.stop();
    },
  };
}
