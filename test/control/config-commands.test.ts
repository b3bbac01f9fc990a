/**
 * config-commands.test.ts: admin commands run from a session (SessionContext.admin, HostCall
 * `admin`: only rows with `admin: true` get it) and the running configuration's commands
 * `config.get` / `config.set` / `config.save` (and a reload reading the saved file).
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startServer, type Server } from '../../actors/server.ts';
import { loadConfig } from '../../src/config/load.ts';
import { connectLines, tmpDir, type LineClient } from '../helpers.ts';
import { TEST_ADMIN, TEST_NO_ADMIN } from '../fixtures/test-services.ts';

const CONFIG = `Server {
    services = ( testAdmin testNoAdmin )
    logLevel = error
    testAdmin = { listeners = ( { address = 127.0.0.1:0 } ) minConnThreads = 1 maxConnThreads = 1 maxErrors = 10 }
    testNoAdmin = { listeners = ( { address = 127.0.0.1:0 } ) minConnThreads = 1 maxConnThreads = 1 }
}
`;

let server: Server;
let dir: string;
let c: LineClient;

async function ask(line: string): Promise<string> {
  c.send(line);
  return c.read();
}

before(async () => {
  dir = tmpDir('postern-config-cmds-');
  server = await startServer({ configText: CONFIG, dataDir: dir, statusPort: 0, controlSocket: false, testServices: [TEST_ADMIN, TEST_NO_ADMIN], backoffInitialMs: 100, loadIntervalMs: 200 });
  c = await connectLines(server.port('testAdmin'));
  assert.equal(await c.read(), '+OK admin ready');
});
after(async () => {
  c?.close();
  await server?.stop();
});

describe('admin commands from a session', () => {
  it('an admin service runs registry commands on the server: the store side and the main side', async () => {
    assert.match(await ask('ADMIN domain.add {"name":"cfg.test","postmasterPassword":"pm-secret-1"}'), /^\+OK /);
    const list = await ask('ADMIN domain.list {}');
    assert.match(list, /^\+OK .*cfg\.test/);
    const status = JSON.parse((await ask('ADMIN status {}')).slice(4));
    assert.ok(status.services.some((s: { name: string; state: string }) => s.name === 'testAdmin' && s.state === 'running'));
  });

  it('a command error comes back with its code; an unknown verb is a bad request', async () => {
    assert.match(await ask('ADMIN domain.add {"name":"cfg.test","postmasterPassword":"pm-secret-1"}'), /^-ERR STORE_DOMAIN_EXISTS /);
    assert.match(await ask('ADMIN no.such.verb {}'), /^-ERR CONTROL_BAD_REQUEST /);
  });

  it('a service whose row does not allow admin commands has no admin call', async () => {
    const d = await connectLines(server.port('testNoAdmin'));
    try {
      assert.equal(await d.read(), '+OK admin ready');
      d.send('ADMIN status {}');
      assert.equal(await d.read(), '-ERR no admin');
    } finally {
      d.close();
    }
  });
});

describe('the running configuration: config.get, config.set, config.save', () => {
  it('config.get gives the running config as seed text and as the model', async () => {
    const got = JSON.parse((await ask('ADMIN config.get {}')).slice(4));
    assert.match(got.text, /^Server \{/);
    assert.equal(got.model.testAdmin.maxErrors, 10);
    assert.equal(got.file, path.join(dir, 'postern.conf'));
    // the text is a valid config that yields the same model
    assert.deepEqual(loadConfig(got.text).model, got.model);
  });

  it('config.set applies a new text live; a bad one is refused and changes nothing', async () => {
    const { text } = JSON.parse((await ask('ADMIN config.get {}')).slice(4));
    const next = text.replace(/maxErrors = 10/, 'maxErrors = 7');
    assert.notEqual(next, text);
    const r = JSON.parse((await ask(`ADMIN config.set ${JSON.stringify({ text: next })}`)).slice(4));
    assert.ok(r.changed.includes('testAdmin'));
    assert.equal(JSON.parse((await ask('ADMIN config.get {}')).slice(4)).model.testAdmin.maxErrors, 7);

    const bad = next.replace(/maxErrors = 7/, 'maxErrors = lots');
    assert.match(await ask(`ADMIN config.set ${JSON.stringify({ text: bad })}`), /^-ERR CONFIG_/);
    assert.equal(JSON.parse((await ask('ADMIN config.get {}')).slice(4)).model.testAdmin.maxErrors, 7);
  });

  it('config.save writes the running config to <dataDir>/postern.conf; a reload then reads that file', async () => {
    const file = path.join(dir, 'postern.conf');
    assert.equal(existsSync(file), false);
    const r = JSON.parse((await ask('ADMIN config.save {}')).slice(4));
    assert.equal(r.path, file);
    const saved = readFileSync(file, 'utf8');
    assert.equal((loadConfig(saved).model as any).testAdmin.maxErrors, 7);
    writeFileSync(file, saved.replace(/maxErrors = 7/, 'maxErrors = 5'));
    const { changed } = await server.reload();
    assert.ok(changed.includes('testAdmin'));
    assert.equal(JSON.parse((await ask('ADMIN config.get {}')).slice(4)).model.testAdmin.maxErrors, 5);
  });

  it('config.save to another path writes there', async () => {
    const other = path.join(dir, 'copy.conf');
    const r = JSON.parse((await ask(`ADMIN config.save ${JSON.stringify({ path: other })}`)).slice(4));
    assert.equal(r.path, other);
    assert.equal((loadConfig(readFileSync(other, 'utf8')).model as any).testAdmin.maxErrors, 5);
  });
});
