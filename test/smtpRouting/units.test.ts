/**
 * test/smtpRouting/units.test.ts: the pure pieces of SMTP routing: the options as resolved
 * (defaults: off, mappingPort 25, no map; a named map embedded; an unknown map a config error),
 * the queue envelope's next hop (kept, checked: only on a remote recipient, a real port), the
 * destination smtpOutgoing gives it (a smart host, no MX), and `routeRecipient` without a map
 * (`mappingHost`).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig } from '../../src/config/load.ts';
import { optionsOf } from '../../src/config/options.ts';
import { checkEnvelope, type QueueEnvelope } from '../../src/store/queue-record.ts';
import { hopDestination } from '../../src/protocols/smtpOutgoing/route.ts';
import { routeRecipient } from '../../src/protocols/smtp/routing.ts';
import { createRootLogger } from '../../src/log.ts';
import type { PosternError } from '../../src/errors.ts';

const load = (body: string) => loadConfig(`Server {\n${body}\n}\n`);
const smtpIn = (body: string) => optionsOf(load(body).resolved.serviceOptions.smtpIncoming, 'smtpIncoming');

test('enableSmtpRouting and mappingData resolve with their defaults; a named map is embedded', () => {
  const d = smtpIn('');
  assert.equal(d.enableSmtpRouting, false);
  assert.deepEqual(d.mappingData, { userMap: null, mappingHost: null, mappingPort: 25 });
  const none = smtpIn('smtpIncoming = { enableSmtpRouting = yes mappingData = { userMap = none mappingHost = "10.0.0.3" mappingPort = 2525 } }');
  assert.equal(none.enableSmtpRouting, true);
  assert.deepEqual(none.mappingData, { userMap: null, mappingHost: '10.0.0.3', mappingPort: 2525 });
  const named = smtpIn('userMaps = ( { name = users type = file path = "/etc/postern/users.map" } )\nsmtpIncoming = { enableSmtpRouting = yes mappingData = { userMap = users } }');
  assert.equal(named.mappingData.userMap?.name, 'users');
  assert.equal(named.mappingData.userMap?.type, 'file');
});

test('mappingData: an unknown map and a port out of range are config errors', () => {
  const fail = (body: string): PosternError => {
    try { load(body); } catch (e) { return e as PosternError; }
    throw new Error('expected a config error');
  };
  assert.match(fail('smtpIncoming = { mappingData = { userMap = nosuch } }').message, /user map "nosuch" is not defined/);
  assert.equal(fail('smtpIncoming = { mappingData = { mappingPort = 70000 } }').code, 'CONFIG_RANGE');
});

const env = (rcpts: QueueEnvelope['rcpts']): QueueEnvelope => ({
  from: 'a@outside.test', rcpts, receivedAt: Date.now(), helo: 'x', ip: '127.0.0.1', by: 'front', with: 'ESMTP', tls: null, auth: null, body: '7BIT', utf8: false,
});

test('the queue keeps a remote recipient\'s next hop and refuses a malformed one', () => {
  const ok = checkEnvelope(env([{ to: 'alice@example.test', account: null, hop: { host: '127.0.0.3', port: 2525 } }, { to: 'bob@example.test', account: null }]));
  assert.deepEqual(ok.rcpts[0]!.hop, { host: '127.0.0.3', port: 2525 });
  assert.equal(ok.rcpts[1]!.hop, undefined);
  for (const hop of [{ host: '', port: 25 }, { host: 'h', port: 0 }, { host: 'h', port: 65536 }, { host: 'h', port: 2.5 }]) {
    assert.throws(() => checkEnvelope(env([{ to: 'a@x.test', account: null, hop }])), /next hop/);
  }
  assert.throws(() => checkEnvelope(env([{ to: 'a@x.test', account: 'a@x.test', hop: { host: 'h', port: 25 } }])), /next hop/, 'a local recipient has no next hop');
});

test('smtpOutgoing sends a recipient with a next hop to it as to a smart host (no MX)', () => {
  const d = hopDestination({ host: 'Back1.Example', port: 2525 });
  assert.equal(d.key, 'hop:back1.example:2525');
  assert.equal(d.smartHost?.host, 'back1.example');
  assert.equal(d.smartHost?.port, 2525);
  assert.equal(d.smartHost?.authUser, null);
  assert.equal(d.smartHost?.startTls, 'yes');
  assert.equal(d.requireTLS, false);
});

test('routeRecipient without a map: every recipient goes to mappingHost; neither: not routed', async () => {
  const log = createRootLogger('silent');
  assert.deepEqual(await routeRecipient({ userMap: null, mappingHost: '10.0.0.3', mappingPort: 2525 }, 'x@y.test', log), { host: '10.0.0.3', port: 2525 });
  assert.equal(await routeRecipient({ userMap: null, mappingHost: null, mappingPort: 25 }, 'x@y.test', log), null);
});
