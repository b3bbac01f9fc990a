/**
 * The one services table (config/schema.ts SERVICE_TABLE) and the views derived from it agree:
 * the config schema, the embedded default, /status, `ctl service …` and the README's services
 * table; test-only rows are registered beside it, never in another service's slot.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  SERVER_SCHEMA, SERVICE_DEFS, SERVICE_NAMES, SERVICE_TABLE, SERVICES_CHOICES, defineService, listenerKind,
  registerServices, serviceDefs, type ServiceRow,
} from '../../src/config/schema.ts';
import { loadConfig, loadDefault } from '../../src/config/load.ts';
import { serviceRow, serviceRows } from '../../src/service/table.ts';
import { parseCtlArgs } from '../../src/cli/ctl.ts';
import { controlRequest } from '../../src/control/client.ts';
import { startServer, type Server } from '../../actors/server.ts';
import { isPosternError } from '../../src/errors.ts';
import { getJson, tmpDir } from '../helpers.ts';
import { TEST_ECHO, TEST_SERVICES } from '../fixtures/test-services.ts';

const names = SERVICE_TABLE.map((r) => r.name);

test('the config schema is derived from the table: one block per row, its options, its listener kind', () => {
  assert.deepEqual([...SERVICE_NAMES], names);
  assert.equal(new Set(names).size, names.length, 'service names are unique');
  for (const r of SERVICE_TABLE) {
    const attr = SERVER_SCHEMA.attributes[r.name];
    assert.equal(attr?.type, 'object', r.name);
    const schema = attr.type === 'object' ? attr.schema : null;
    assert.equal(schema, SERVICE_DEFS[r.name].schema, r.name);
    for (const o of Object.keys(r.options)) assert.ok(schema!.attributes[o] !== undefined, `${r.name}.${o}`);
    const kind = listenerKind(r.transport);
    const listeners = schema!.attributes['listeners'];
    if (kind === 'none') assert.equal(listeners, undefined, r.name);
    else assert.equal(listeners?.type === 'objectSet' && listeners.schema.listener, kind, r.name);
    if (kind === 'tcp') {
      const idle = listeners?.type === 'objectSet' ? listeners.schema.attributes['idleTimeout'] : undefined;
      assert.equal(idle !== undefined && 'default' in idle ? idle.default : undefined, r.idleTimeout, `${r.name} idleTimeout`);
    }
    assert.equal(kind === 'none', r.defaultListener === null, `${r.name}: a listener iff it listens`);
  }
  const choices = SERVER_SCHEMA.attributes['services'];
  assert.deepEqual(choices?.type === 'set' ? [...(choices.of.choices ?? [])] : null, [...names, 'smtp']);
  assert.deepEqual([...SERVICES_CHOICES].slice(0, names.length), names);
});

test('the embedded default is derived from the table: the embedded rows run, every row shows its default listener', () => {
  const { resolved } = loadDefault();
  assert.deepEqual(resolved.services, SERVICE_TABLE.filter((r) => r.embedded).map((r) => r.name));
  assert.deepEqual(Object.keys(resolved.serviceOptions), names);
  for (const r of SERVICE_TABLE) {
    const o = resolved.serviceOptions[r.name];
    assert.equal(o.transport, listenerKind(r.transport), r.name);
    const keys = [...o.listeners, ...o.udpListeners].map((l) => l.key);
    assert.deepEqual(keys, r.defaultListener === null ? [] : [r.defaultListener], r.name);
    for (const l of o.listeners) assert.equal(l.idleTimeoutMs, r.idleTimeout! * 1000, r.name);
  }
  // the embedded rows are the implemented ones the default runs; each has a module
  for (const r of SERVICE_TABLE.filter((x) => x.embedded)) assert.notEqual(r.module, null, r.name);
});

test("the README's services table is the table's rows", () => {
  const readme = readFileSync(join(import.meta.dirname, '..', '..', 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Services\n'), readme.indexOf('\n## ', readme.indexOf('## Services\n') + 1));
  const rows = section.split('\n').filter((l) => l.startsWith('| `'));
  const expected = SERVICE_TABLE.map((r: ServiceRow) =>
    `| \`${r.name}\` | ${r.transport} | ${r.defaultListener ?? '-'} | ${r.idleTimeout ?? '-'} | ${r.embedded ? 'runs' : '-'} | ${r.description}${r.module === null ? ' (not implemented yet)' : ''} |`);
  assert.deepEqual(rows, expected, `README.md "## Services" should list:\n${expected.join('\n')}`);
});

test('test-only rows register beside the table; a taken name is refused', () => {
  registerServices(TEST_SERVICES);
  registerServices([TEST_ECHO]); // the same row again: nothing
  assert.deepEqual(serviceDefs().map((d) => d.name), [...names, ...TEST_SERVICES.map((r) => r.name)]);
  assert.equal(serviceRow('testEcho').protocol, TEST_ECHO.module);
  for (const taken of ['pop3', 'smtp', 'primaryDomain', 'testEcho']) {
    assert.throws(() => registerServices([defineService(taken, 'tcp', 'dup')]), (e) => isPosternError(e, 'CONFIG_DUPLICATE'), taken);
  }
  const { resolved } = loadConfig('Server { services = ( testEcho ) testEcho = { listeners = ( { address = 127.0.0.1:0 } ) maxErrors = 2 } }');
  assert.deepEqual(resolved.services, ['testEcho']);
  assert.equal((resolved.serviceOptions as Record<string, { maxErrors: number }>)['testEcho']!.maxErrors, 2);
});

let server: Server | undefined;
after(async () => server?.stop());

test('/status and `ctl service …` list and accept exactly the rows', async () => {
  server = await startServer({ configText: 'Server { services = ( ) statusListener = 127.0.0.1:0 logLevel = error }', dataDir: tmpDir(), statusPort: 0, testServices: TEST_SERVICES, backoffInitialMs: 100 });
  const all = serviceRows().map((r) => r.name);
  assert.deepEqual(all, [...names, ...TEST_SERVICES.map((r) => r.name)]);
  const doc = await getJson(`http://127.0.0.1:${server.statusPort}/status`);
  assert.deepEqual(doc.services.map((s: { name: string }) => s.name), all);
  for (const s of doc.services as Array<{ name: string; implemented: boolean }>) {
    assert.equal(s.implemented, serviceRow(s.name).protocol !== null, s.name);
  }
  const ctl = (...words: string[]) => parseCtlArgs(['--data-dir', server!.dataDir, ...words], {});
  for (const r of SERVICE_TABLE) {
    const c = ctl('service', 'start', r.name);
    assert.deepEqual([c.verb, c.args], ['service.start', { name: r.name }]);
    if (r.module === null) {
      await assert.rejects(controlRequest(c.socketPath, c.verb, c.args), (e) => isPosternError(e, 'NOT_IMPLEMENTED'), r.name);
    }
  }
  const c = ctl('service', 'start', 'testEcho');
  assert.deepEqual(await controlRequest(c.socketPath, c.verb, c.args), { service: 'testEcho', state: 'running' });
  await assert.rejects(controlRequest(c.socketPath, 'service.stop', { name: 'nosuch' }), (e) => isPosternError(e, 'SERVICE_UNKNOWN'));
});
