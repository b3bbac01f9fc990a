/**
 * test/report/outbound.test.ts: smtpOutgoing's counters. Two messages relayed through
 * smtpIncoming (relayNetworks) leave by a smart host, an aiosmtpd receiver on 127.0.0.45:
 * SMTP_OutboundMessage = 2, SMTP_OutboundConnection ≥ 1, in the sample and on /metrics.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { freePort, waitFor } from '../helpers.ts';
import { startReceiver } from '../smtpOutgoing/helpers.ts';
import { python, startReport, total } from './helpers.ts';

test('relayed messages count SMTP_OutboundConnection and SMTP_OutboundMessage', async () => {
  const port = await freePort();
  const rx = await startReceiver({ host: '127.0.0.45', port });
  const env = await startReport({
    services: 'smtpIncoming processing smtpOutgoing report',
    smtp: 'relayNetworks = ( 127.0.0.0/8 )',
    server: `smtpOutgoing = { routes = ( { action = smartHost smartHost = { host = "127.0.0.45" port = ${port} startTls = no } } ) }`,
  });
  try {
    await python(`
import smtplib
s = smtplib.SMTP('127.0.0.1', ${env.smtp}, local_hostname='client.test')
for i in range(2):
    s.sendmail('s@example.org', ['x@remote.test'], 'Subject: %d\\r\\n\\r\\nbody\\r\\n' % i)
s.quit()
`);
    await rx.waitMessages(2, 30_000);
    await waitFor(() => env.counters('smtpOutgoing').SMTP_OutboundMessage === 2, 20_000, 'two outbound messages counted');
    // each service's threads send their counts with their load reports, on their own clocks: the
    // inbound ones may come after the outbound ones
    await waitFor(() => env.counters('smtpIncoming').SMTP_InboundMessage === 2, 20_000, 'two inbound messages counted');
    await env.sample();
    const r = await env.query();
    assert.equal(total(r, 'SMTP_OutboundMessage'), 2);
    assert.ok(total(r, 'SMTP_OutboundConnection') >= 1);
    assert.equal(total(r, 'SMTP_InboundMessage'), 2);
    const text = await (await fetch(`http://127.0.0.1:${env.server.statusPort}/metrics`)).text();
    assert.match(text, /^SMTP_OutboundMessage 2$/m);
  } finally {
    await env.stop();
    await rx.stop();
  }
});
