/**
 * test/log/remote.test.ts: logType remote and system, across real servers: a POP3 service of one
 * Postern (hostname front.example, logType remote) logs into the Log service of a second
 * Postern, whose rule for that hostname writes its file; logType system sends RFC 5424
 * datagrams of facility mail to a syslog listener (logHost); a reload changes the level.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../../actors/server.ts';
import { connectLines, tmpDir, waitFor } from '../helpers.ts';
import { startLogServer, udpCollector, waitForLine } from './helpers.ts';
import { parseSyslog } from '../../src/net/syslog.ts';

async function failPop3(port: number, user: string): Promise<void> {
  const c = await connectLines(port);
  try {
    await c.read();
    await c.cmd(`USER ${user}`);
    assert.match(await c.cmd('PASS wrong'), /^-ERR/);
  } finally {
    c.close();
  }
}

test('logType remote: a second Postern\'s Log service writes the first one\'s records by its hostname', async () => {
  const back = await startLogServer({
    services: [],
    logBlock: `rules = (
        { priority = 1 hostname = "front.example" module = POP3 fileName = "front-pop3.txt" }
        { priority = 2 fileName = "everything.txt" }
    )`,
  });
  const front = await startServer({
    configText: `Server {
      services = (pop3)
      hostname = front.example
      primaryDomain = "example.org"
      statusListener = 127.0.0.1:0
      logLevel = fatal
      pop3 = { listeners = ( { address = 127.0.0.1:0 } ) authFailureDelay = 0 logType = remote logHost = 127.0.0.1:${back.logPort} logLevel = warning }
    }`,
    dataDir: tmpDir('postern-log-front-'),
    statusPort: 0,
    controlSocket: false,
  });
  try {
    await failPop3(front.port('pop3'), 'remote-user@example.org');
    const text = await waitForLine(back, 'front-pop3.txt', 'remote-user@example.org');
    assert.match(text, / WARNING front\.example POP3: login failed /);
    assert.ok(!back.file('everything.txt').includes('remote-user'));
  } finally {
    await front.stop();
    await back.stop();
  }
});

test('logType system: RFC 5424 datagrams of facility mail to the syslog listener at logHost; a reload changes logLevel', async () => {
  const syslog = await udpCollector();
  const config = (level: string): string => `Server {
      services = (pop3)
      hostname = sys.example
      primaryDomain = "example.org"
      statusListener = 127.0.0.1:0
      logLevel = fatal
      pop3 = { listeners = ( { address = 127.0.0.1:0 } ) authFailureDelay = 0 logType = system logHost = 127.0.0.1:${syslog.port} logLevel = ${level} }
    }`;
  const server = await startServer({ configText: config('warning'), dataDir: tmpDir('postern-log-sys-'), statusPort: 0, controlSocket: false });
  try {
    await failPop3(server.port('pop3'), 'sys-user@example.org');
    const d = await waitFor(() => syslog.datagrams.find((b) => b.includes('sys-user@example.org')), 10_000, 'the syslog datagram');
    // facility mail (2) × 8 + warning (4)
    assert.match(d.toString(), /^<20>1 \S+ sys\.example postern \d+ POP3 - login failed /);
    assert.equal(parseSyslog(d)!.level, 'warning');
    // critical only: a failed login is no longer sent
    await server.reload(config('critical'));
    const before = syslog.datagrams.length;
    await failPop3(server.port('pop3'), 'quiet-user@example.org');
    // a record that is sent after it proves the sender has had its chance
    await server.reload(config('warning'));
    await failPop3(server.port('pop3'), 'loud-user@example.org');
    await waitFor(() => syslog.datagrams.find((b) => b.includes('loud-user@example.org')), 10_000, 'the datagram after the second reload');
    assert.ok(!syslog.datagrams.slice(before).some((b) => b.includes('quiet-user@example.org')));
  } finally {
    await server.stop();
    syslog.close();
  }
});
