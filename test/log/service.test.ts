/**
 * test/log/service.test.ts: the Log service end to end, over real sockets: a rule per module
 * (SMTP traffic lands in the SMTP-IN file, POP3 traffic in the POP3 file), `log.tail` through
 * the control socket, syslog datagrams from `logger --udp` (RFC 5424 and --rfc3164) accepted
 * and, on a listener with a deny rule, refused (counted, not written), over-long and garbage
 * datagrams ignored and counted, rotation by size keeping fileCount old files, and a full disk
 * (/dev/full: a real ENOSPC) that loses log lines, never mail, and says so once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { connectLines, waitFor, type LineClient } from '../helpers.ts';
import { runCtl } from '../../src/cli/ctl.ts';
import { counters, freeUdpPort, logger, sendUdp, startLogServer, waitForLine, type LogEnv } from './helpers.ts';

async function reply(c: LineClient, line?: string): Promise<string> {
  if (line !== undefined) c.send(line);
  let l = await c.read(10_000);
  while (/^\d{3}-/.test(l)) l = await c.read(10_000);
  return l;
}

/** One message over SMTP to ann@example.org (queued: 250). */
async function sendMail(env: LogEnv, subject: string): Promise<string> {
  const c = await connectLines(env.server.port('smtpIncoming'));
  try {
    await reply(c);
    await reply(c, 'EHLO client.example');
    assert.match(await reply(c, 'MAIL FROM:<bob@example.net>'), /^250/);
    assert.match(await reply(c, 'RCPT TO:<ann@example.org>'), /^250/);
    assert.match(await reply(c, 'DATA'), /^354/);
    c.send(`Subject: ${subject}\r\n\r\nhello\r\n.`);
    const done = await reply(c);
    await reply(c, 'QUIT');
    return done;
  } finally {
    c.close();
  }
}

/** A POP3 login that fails (a warning, "login failed", of the POP3 module). */
async function failPop3(env: LogEnv, user: string): Promise<void> {
  const c = await connectLines(env.server.port('pop3'));
  try {
    await c.read();
    await c.cmd(`USER ${user}`);
    assert.match(await c.cmd('PASS wrong'), /^-ERR/);
  } finally {
    c.close();
  }
}

const SMTP_POP3 = `
    smtpIncoming = { listeners = ( { address = 127.0.0.1:0 } ) logLevel = info mailAuth = no }
    pop3 = { listeners = ( { address = 127.0.0.1:0 } ) authFailureDelay = 0 logLevel = 15 }`;

test('a rule per module: SMTP traffic in the SMTP-IN file, POP3 traffic in the POP3 file; log.tail', async () => {
  const env = await startLogServer({
    services: ['smtpIncoming', 'processing', 'pop3'],
    body: SMTP_POP3,
    logBlock: `rules = (
        { priority = 10 module = "SMTP-IN" fileName = "smtp-in.txt" }
        { priority = 20 module = POP3 logLevel = warning fileName = "pop3.txt" }
        { priority = 90 module = "*" fileName = "rest/other.txt" }
    )`,
  });
  try {
    await env.server.admin('account.add', { address: 'ann@example.org', password: 'pw' });
    assert.match(await sendMail(env, 'logged'), /^250/);
    await failPop3(env, 'nobody@example.org');
    const smtp = await waitForLine(env, 'smtp-in.txt', 'smtp: message queued');
    const pop3 = await waitForLine(env, 'pop3.txt', 'login failed');
    assert.match(smtp, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0000 INFO \S+ SMTP-IN: smtp: message queued/m);
    assert.match(pop3, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0000 WARNING \S+ POP3: login failed .*nobody@example\.org/m);
    assert.doesNotMatch(smtp, / POP3: /);
    assert.doesNotMatch(pop3, / SMTP-IN: /);
    // a record of another module goes to the catch-all (in its own directory)
    await logger(env.logPort, 'to the catch-all', ['-t', 'FTP-BACKUP']);
    assert.match(await waitForLine(env, 'rest/other.txt', 'to the catch-all'), / FTP-BACKUP: to the catch-all$/m);
    // log.tail: the last records, by service and level
    const tail = (await env.ctl('log.tail', { service: 'pop3', level: 'warning', lines: 5 })) as Array<{ level: string; module: string; msg: string; service: string }>;
    assert.ok(tail.length >= 1 && tail.length <= 5);
    assert.ok(tail.every((r) => r.service === 'pop3' && ['critical', 'error', 'warning'].includes(r.level)));
    assert.ok(tail.some((r) => r.module === 'POP3' && r.msg.startsWith('login failed')));
    const smtpTail = (await env.ctl('log.tail', { service: 'smtpIncoming', lines: 50 })) as Array<{ msg: string }>;
    assert.ok(smtpTail.some((r) => r.msg.startsWith('smtp: message queued')));
    await assert.rejects(env.ctl('log.tail', { level: 'loud' }), /level/);
    // postern ctl log tail: one line per record
    const out: string[] = [];
    const code = await runCtl(['--data-dir', env.dir, 'log', 'tail', 'service=pop3', 'level=warning', 'lines=3'], { out: (l) => void out.push(l), err: (l) => void out.push(`ERR ${l}`) });
    assert.equal(code, 0, out.join('\n'));
    assert.ok(out.length >= 1 && out.length <= 3, out.join('\n'));
    assert.ok(out.some((l) => /^\d{4}-\d\d-\d\dT\S+ warning \S+ POP3: login failed /.test(l)), out.join('\n'));
    assert.equal(await runCtl(['--data-dir', env.dir, 'log', 'tail', 'lines=many'], { out: () => {}, err: () => {} }), 2);
  } finally {
    await env.stop();
  }
});

test('syslog datagrams from logger --udp (RFC 5424 and RFC 3164) are written; a deny rule refuses them, counted', async () => {
  const denied = await freeUdpPort();
  const env = await startLogServer({
    services: [],
    moreListeners: `{ address = 127.0.0.1:${denied} denyRules = ( { ipSet = 127.0.0.0/8 } ) }`,
    logBlock: `rules = (
        { priority = 1 module = mytag fileName = "mytag.txt" }
        { priority = 2 module = "*" hostname = "*" fileName = "everything.txt" }
    )`,
  });
  try {
    await logger(env.logPort, 'hello in rfc5424', ['-t', 'mytag', '-p', 'mail.warning']);
    await logger(env.logPort, 'hello in rfc3164', ['--rfc3164', '-t', 'other', '-i', '-p', 'mail.err']);
    await logger(denied, 'must not be written', ['-t', 'mytag']);
    const tagged = await waitForLine(env, 'mytag.txt', 'hello in rfc5424');
    assert.match(tagged, / WARNING \S+ mytag: hello in rfc5424$/m);
    const all = await waitForLine(env, 'everything.txt', 'hello in rfc3164');
    assert.match(all, / ERROR \S+ other: hello in rfc3164$/m);
    const listener = (key: string) => env.server.status().services.find((s) => s.name === 'log')?.listeners.find((x) => x.key === key);
    await waitFor(() => (listener(`127.0.0.1:${denied}`)?.refused as Record<string, number> | undefined)?.['deny_rule'] === 1, 10_000, 'the denied datagram to be counted');
    assert.equal(listener(`127.0.0.1:${denied}`)?.accepted, 0);
    assert.ok((listener(`127.0.0.1:${env.logPort}`)?.accepted ?? 0) >= 2);
    assert.ok(!env.file('mytag.txt').includes('must not be written'));
    assert.ok(!env.file('everything.txt').includes('must not be written'));
  } finally {
    await env.stop();
  }
});

test('over-long and garbage datagrams are ignored and counted', async () => {
  const env = await startLogServer({ services: [], logBlock: 'maxRecordSize = 512' });
  try {
    await sendUdp(env.logPort, 'no priority here');
    await sendUdp(env.logPort, Buffer.from([0xff, 0x00, 0x13, 0x37]));
    await sendUdp(env.logPort, `<22>1 - host app - - - ${'x'.repeat(600)}`);
    await sendUdp(env.logPort, '<22>1 - host app - - - short and fine');
    await waitForLine(env, 'everything.txt', 'short and fine');
    await waitFor(() => (counters(env.server, 'log')['log.garbage'] ?? 0) >= 2 && (counters(env.server, 'log')['log.oversize'] ?? 0) >= 1, 10_000, 'the counters');
    assert.equal(counters(env.server, 'log')['log.garbage'], 2);
    assert.equal(counters(env.server, 'log')['log.oversize'], 1);
    assert.ok(!env.file('everything.txt').includes('xxxxxxxx'));
    assert.ok(!env.file('everything.txt').includes('no priority'));
  } finally {
    await env.stop();
  }
});

test('rotation by size keeps fileCount old files', async () => {
  const env = await startLogServer({ services: [], logBlock: 'rules = ( { priority = 1 fileName = "small.txt" fileSize = 1 fileCount = 2 } )' });
  try {
    // rounds of ~600 bytes, each written before the next: a 1 KB file rotates every other round
    for (let round = 0; round < 8; round++) {
      for (let i = 0; i < 3; i++) await sendUdp(env.logPort, `<22>1 - host app - - - round ${round} line ${i} ${'y'.repeat(150)}`);
      await waitForLine(env, 'small.txt', `round ${round} line 2`);
    }
    const dir = path.join(env.dir, 'log');
    const names = fs.readdirSync(dir).sort();
    assert.deepEqual(names, ['small.txt', 'small.txt.1', 'small.txt.2']);
    for (const n of names) assert.ok(fs.statSync(path.join(dir, n)).size <= 1024, `${n} is at most fileSize`);
    assert.match(env.file('small.txt'), /round 7 line 2/);
    assert.doesNotMatch(env.file('small.txt.2') + env.file('small.txt.1') + env.file('small.txt'), /round 0 /);
  } finally {
    await env.stop();
  }
});

test('a full disk loses log lines, never mail, and says so once', async () => {
  const env = await startLogServer({
    services: ['smtpIncoming', 'processing'],
    body: 'smtpIncoming = { listeners = ( { address = 127.0.0.1:0 } ) logLevel = info mailAuth = no }',
    logBlock: 'rules = ( { priority = 1 fileName = "/dev/full" } )',
  });
  try {
    await env.server.admin('account.add', { address: 'ann@example.org', password: 'pw' });
    for (let i = 0; i < 3; i++) {
      await sendUdp(env.logPort, `<22>1 - host app - - - lost line ${i}`);
      assert.match(await sendMail(env, `mail ${i}`), /^250/);
      await waitFor(() => (counters(env.server, 'log')['log.dropped'] ?? 0) >= i + 1, 10_000, 'the drop to be counted');
    }
    const said = (await env.ctl('log.tail', { service: 'log', lines: 100 })) as Array<{ level: string; msg: string }>;
    const full = said.filter((r) => r.msg.startsWith('log lines dropped: disk full'));
    assert.equal(full.length, 1, JSON.stringify(said));
    assert.equal(full[0]!.level, 'error');
    // the mail is there
    await waitFor(async () => {
      const q = (await env.server.admin('queue.list', {})) as unknown[];
      return q.length === 0;
    }, 20_000, 'the queue to be delivered');
  } finally {
    await env.stop();
  }
});

test('a reload changes the rules: later records go to the new rule\'s file', async () => {
  const env = await startLogServer({ services: [], logBlock: 'rules = ( { priority = 1 fileName = "before.txt" } )' });
  try {
    await sendUdp(env.logPort, '<22>1 - host app - - - first');
    await waitForLine(env, 'before.txt', 'first');
    await env.server.reload(env.configText.replace('before.txt', 'after.txt'));
    await sendUdp(env.logPort, '<22>1 - host app - - - second');
    await waitForLine(env, 'after.txt', 'second');
    assert.ok(!env.file('before.txt').includes('second'));
  } finally {
    await env.stop();
  }
});
