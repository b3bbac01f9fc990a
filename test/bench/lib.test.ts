/**
 * bench/lib/server.ts starts a Postern server as a child process (here with the echo fixture in
 * the pop3 slot and a raised open-file limit), reports its ports, /status, RSS and CPU time, and
 * stops it; a config that does not validate rejects the start. No timing assertions.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { startPosternProcess, procCpuSeconds, procRssBytes } from '../../bench/lib/server.ts';
import { formatCell } from '../../bench/lib/table.ts';
import { connectLines, ECHO_PROTOCOL } from '../helpers.ts';

const CONFIG = `
Server {
    services = (pop3)
    statusListener = 127.0.0.1:0
    logLevel = error
    pop3 = {
        listeners = ( { address = 127.0.0.1:0 } )
        minConnThreads = 1
        maxConnThreads = 1
    }
}`;

test('startPosternProcess starts a server in a child process, measures it and stops it', async (t) => {
  const srv = await startPosternProcess({ configText: CONFIG, protocolOverrides: { pop3: ECHO_PROTOCOL }, nofile: 4096 });
  t.after(() => srv.stop());
  assert.notEqual(srv.pid, process.pid);
  assert.equal(srv.nofile, 4096); // ulimit -n in the launching shell
  const port = srv.port('pop3');
  assert.deepEqual(srv.ports('pop3'), [port]);
  assert.deepEqual(srv.ports('imap'), []);

  const c = await connectLines(port);
  assert.equal(await c.read(), '+OK echo ready');
  assert.equal(await c.cmd('hello'), '+OK hello');

  const doc = await srv.status();
  assert.equal(doc.server.pid, srv.pid);
  const pop3 = doc.services.find((s) => s.name === 'pop3')!;
  assert.equal(pop3.state, 'running');
  assert.equal(pop3.openConnections, 1);
  c.close();
  await c.closed;

  assert.ok(srv.rssBytes() > 1024 * 1024);
  assert.ok(srv.cpuSeconds() > 0);
  assert.ok(procRssBytes('self') > 0);
  assert.ok(procCpuSeconds('self') >= 0);

  const r = await srv.stop();
  assert.equal(r.code, 0);
  assert.equal(fs.existsSync(`/proc/${srv.pid}`), false);
  assert.deepEqual(await srv.stop(), r); // idempotent
});

test('a config that does not validate rejects the start with its reason', async () => {
  await assert.rejects(startPosternProcess({ configText: 'Server { pop3 = { maxErrors = lots } }' }), /maxErrors/);
});

test('formatCell: thousands separators, "-" for missing values', () => {
  assert.equal(formatCell(12345678), '12,345,678');
  assert.equal(formatCell(1234.5678), '1,234.568');
  assert.equal(formatCell(null), '-');
  assert.equal(formatCell('x'), 'x');
});
