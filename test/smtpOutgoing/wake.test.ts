/**
 * test/smtpOutgoing/wake.test.ts: seed §6, "when a destination that was failing accepts a
 * message, its other waiting messages are tried at once": with processing's schedule at ten
 * minutes, a message deferred by the receiver would wait that long; once another message to
 * the same domain is accepted, the deferred one is made due (`makeDueFor`) and delivered at
 * once. A real server, dnsmasq, an aiosmtpd receiver.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import { startServer, type Server } from '../../actors/server.ts';
import { startDnsServer, type DnsServer } from '../dns-server.ts';
import { freePort, tmpDir, waitFor } from '../helpers.ts';
import { startReceiver, type Receiver } from './helpers.ts';

let dns: DnsServer;
let server: Server;
let rx: Receiver;

before(async () => {
  const port = await freePort();
  dns = await startDnsServer({ a: { 'mx.wake.test': ['127.0.0.71'] }, mx: { 'wake.test': [{ exchange: 'mx.wake.test', priority: 10 }] } }, { host: '127.0.0.66' });
  rx = await startReceiver({ host: '127.0.0.71', port, defer: ['first@wake.test'], deferTimes: 1 });
  const configText = `
Server {
    services = (smtp)
    hostname = "out.postern.test"
    statusListener = 127.0.0.1:0
    logLevel = error
    dnr = { nameServers = ( { address = ${dns.server} priority = 0 } ) }
    smtpIncoming = { listeners = ( { address = 127.0.0.1:0 } ) relayNetworks = ( 127.0.0.0/8 ) }
    processing = { schedInterval = 600 maxSchedInterval = 600 delayNoticeAfter = 0 }
    smtpOutgoing = { mxPort = ${port} mtaSts = no }
}`;
  server = await startServer({ configText, dataDir: tmpDir('postern-out-wake-'), statusPort: 0, controlSocket: false });
});

after(async () => {
  await server?.stop();
  await rx?.stop();
  await dns?.stop();
});

async function submit(to: string, subject: string): Promise<void> {
  const c = new SMTPConnection({ host: '127.0.0.1', port: server.port('smtpIncoming'), ignoreTLS: true, logger: false });
  await new Promise<void>((res, rej) => { c.once('error', rej); c.connect(() => res()); });
  await new Promise<void>((res, rej) => c.send({ from: 'alice@src.test', to: [to] }, `From: alice@src.test\r\nTo: ${to}\r\nSubject: ${subject}\r\n\r\n${subject}\r\n`, (e) => (e ? rej(e) : res())));
  c.quit();
}

const queue = async (): Promise<Array<{ status: string; attempts: number }>> => (await server.admin('queue.list', {})) as Array<{ status: string; attempts: number }>;

test('a deferred message is tried at once when its destination accepts another', async () => {
  await submit('first@wake.test', 'deferred first');
  await waitFor(async () => (await queue()).some((e) => /deferred/.test(e.status)), 10_000, 'the first message deferred');
  assert.equal(rx.messages.length, 0);
  await submit('second@wake.test', 'accepted second');
  await rx.waitMessages(2, 15_000); // the first would otherwise wait schedInterval (600 s)
  assert.deepEqual(rx.messages.map((m) => m.to[0]).sort(), ['first@wake.test', 'second@wake.test']);
  await waitFor(async () => (await queue()).length === 0, 10_000, 'an empty queue');
});
