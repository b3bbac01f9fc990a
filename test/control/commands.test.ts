/**
 * The one admin command registry (admin/commands.ts) and what reads it agree: the control
 * socket's verbs, `postern ctl`'s parsing, usage and replies, the store's handlers, and the
 * main thread's; argument schemas are enforced on both sides, over the real control socket.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { COMMANDS, checkArgs, command, runCommand, type MainHandlers } from '../../src/admin/commands.ts';
import { CONTROL_VERBS } from '../../src/control/server.ts';
import { controlRequest } from '../../src/control/client.ts';
import { CTL_USAGE, parseCtlArgs, runCtl } from '../../src/cli/ctl.ts';
import { STORE_ADMIN_VERBS } from '../../src/store/admin.ts';
import { startServer, type Server } from '../../actors/server.ts';
import { isPosternError } from '../../src/errors.ts';
import { tmpDir } from '../helpers.ts';

const bad = (argument?: string) => (e: unknown) => isPosternError(e, 'CONTROL_BAD_REQUEST') && (argument === undefined || e.details?.argument === argument);

/** A `postern ctl` command line for a registry row, from its ctl syntax. */
function sampleArgv(c: (typeof COMMANDS)[number]): string[] {
  const sample: Record<string, string> = { service: 'pop3', domain: 'example.org', address: 'ann@example.org', queueId: 'Q1', choice: 'hang', index: '1' };
  const choiceOf = (arg: string): string => { const a = c.args[arg]; return a?.type === 'choice' ? a.choices[0]! : sample.choice!; };
  const argv = [...c.name.split('.'), ...(c.ctl?.words ?? []).map((w) => (w.word === 'choice' ? choiceOf(w.arg) : sample[w.word]!))];
  if (c.ctl?.password !== undefined) argv.push('--password', 'pw');
  return argv;
}

test('the control socket, postern ctl and the store read the one registry', () => {
  const operators = COMMANDS.filter((c) => c.ctl !== null);
  assert.deepEqual([...CONTROL_VERBS], operators.map((c) => c.name));
  assert.deepEqual([...STORE_ADMIN_VERBS].sort(), COMMANDS.filter((c) => c.side === 'store').map((c) => c.name).sort());
  const usage = CTL_USAGE.split('\n').slice(1);
  assert.equal(usage.length, operators.length);
  for (const c of operators) {
    const argv = sampleArgv(c);
    const parsed = parseCtlArgs(['--data-dir', '/tmp/x', ...argv], {});
    assert.equal(parsed.verb, c.name, argv.join(' '));
    for (const k of Object.keys(parsed.args)) assert.ok(k in c.args, `${c.name}: ${k} is in its schema`);
    checkArgs(c, parsed.args);
    assert.ok(usage.some((l) => l.trimStart().startsWith(c.name.split('.').join(' '))), `${c.name} in usage`);
  }
  assert.equal(command('queue.stats')?.ctl, null, 'internal: not an operator command');
  assert.equal(command('no.such'), undefined);
});

test('runCommand checks main-side arguments and routes each command to its side', async () => {
  const seen: string[] = [];
  const main = Object.fromEntries(COMMANDS.filter((c) => c.side === 'main').map((c) => [c.name, async () => (seen.push(`main ${c.name}`), c.name)])) as unknown as MainHandlers;
  const store = async (n: string) => (seen.push(`store ${n}`), n);
  assert.equal(await runCommand('status', {}, { main, store }), 'status');
  assert.equal(await runCommand('domain.list', {}, { main, store }), 'domain.list');
  await assert.rejects(runCommand('service.start', {}, { main, store }), bad('name'));
  await assert.rejects(runCommand('fault', { name: 'pop3', kind: 'melt' }, { main, store }), bad('kind'));
  await assert.rejects(runCommand('fault', { name: 'pop3', index: -1 }, { main, store }), bad('index'));
  await assert.rejects(runCommand('nope', {}, { main, store }), bad());
  assert.deepEqual(seen, ['main status', 'store domain.list']);
});

let server: Server | undefined;
after(async () => server?.stop());

test('over the control socket: the schema refuses bad arguments on both sides; ctl replies come from the registry', async () => {
  const dataDir = tmpDir();
  server = await startServer({ configText: 'Server { services = ( ) statusListener = 127.0.0.1:0 logLevel = error }', dataDir, statusPort: 0 });
  const sock = server.socketPath;
  // store side (checked in the store thread)
  await assert.rejects(controlRequest(sock, 'account.add', { address: 'a@example.org', password: 'pw', quotaBytes: 'lots' }), bad('quotaBytes'));
  await assert.rejects(controlRequest(sock, 'account.add', { address: 'a@example.org', password: 'pw', cramMd5: 'yes' }), bad('cramMd5'));
  await assert.rejects(controlRequest(sock, 'domain.add', {}), bad('name'));
  await assert.rejects(server.admin('queue.show', { id: 7 }), bad('id'));
  // main side (checked on the main thread)
  await assert.rejects(controlRequest(sock, 'service.restart', { name: 3 }), bad('name'));
  // internal commands are not on the control socket
  await assert.rejects(controlRequest(sock, 'queue.stats', {}), bad());
  assert.equal(typeof ((await server.admin('queue.stats', {})) as { entries: unknown }).entries, 'number');
  // postern ctl, end to end
  const out: string[] = [];
  const io = { out: (l: string) => void out.push(l), err: (l: string) => void out.push(`ERR ${l}`) };
  const ctl = (...argv: string[]) => runCtl(['--data-dir', dataDir, ...argv], io);
  assert.equal(await ctl('domain', 'add', 'example.org', '--password', 'pm-pw'), 0);
  assert.equal(await ctl('account', 'add', 'ann@example.org', '--password', 'pw'), 0);
  assert.equal(await ctl('account', 'passwd', 'ann@example.org', '--password', 'pw2'), 0);
  assert.equal(await ctl('account', 'remove', 'ann@example.org'), 0);
  assert.equal(await ctl('service', 'stop', 'smtpIncoming'), 1);
  assert.deepEqual(out.slice(0, 4), [
    'domain example.org added, with postmaster@example.org',
    'account ann@example.org added',
    'password changed for ann@example.org',
    'account ann@example.org removed',
  ]);
  assert.match(out[4]!, /^ERR postern ctl: .* \[SERVICE_NOT_RUNNING\]$/);
});
