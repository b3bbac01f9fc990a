/**
 * test/userdb/ctl.test.ts: `postern ctl userdb lookup ADDRESS [--map NAME]` and `ctl userdb
 * flush` through a running server (the main thread's maps): a file map and an LDAP Bind map
 * over a real slapd; an unknown map is an error naming the defined ones; a frozen slapd is still
 * answered from the cache until `userdb flush`, then USERDB_UNAVAILABLE within the timeout.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { startServer, type Server } from '../../actors/server.ts';
import { runCtl } from '../../src/cli/ctl.ts';
import { tmpDir } from '../helpers.ts';
import { startLdapServer, type LdapServer } from '../ldap-server.ts';

let ldap: LdapServer;
let server: Server;
let dataDir: string;

before(async () => {
  ldap = await startLdapServer();
  dataDir = tmpDir();
  const mapFile = path.join(dataDir, 'users.map');
  fs.writeFileSync(mapFile, 'alice@example.test 127.0.0.9:2110\n/.*@example\\.test/ 127.0.0.8\n');
  server = await startServer({
    configText: `Server { services = ( ) statusListener = 127.0.0.1:0 logLevel = error
      userdb = { ldapConnectors = ( { name = dir urls = ( "${ldap.url}" ) bindDn = "${ldap.bindDn}" bindPassword = "${ldap.bindPassword}" baseDn = "${ldap.baseDn}" timeout = 1 } ) }
      userMaps = ( { name = routes type = file path = "${mapFile}" } { name = directory type = ldapBind ldapConnector = dir } ) }`,
    dataDir, statusPort: 0,
  });
});
after(async () => { await server?.stop(); await ldap?.stop(); });

async function ctl(...argv: string[]): Promise<{ code: number; out: string[] }> {
  const out: string[] = [];
  const code = await runCtl(['--data-dir', dataDir, ...argv], { out: (l) => void out.push(l), err: (l) => void out.push(`ERR ${l}`) });
  return { code, out };
}

test('ctl userdb lookup: the first map by default, --map NAME, not found, unknown map', async () => {
  assert.deepEqual(await ctl('userdb', 'lookup', 'alice@example.test'), { code: 0, out: ['alice@example.test: 127.0.0.9:2110 (user alice@example.test, map routes)'] });
  assert.deepEqual(await ctl('userdb', 'lookup', 'zed@example.test'), { code: 0, out: ['zed@example.test: 127.0.0.8 (user zed@example.test, map routes)'] });
  assert.deepEqual(await ctl('userdb', 'lookup', 'bob@example.test', '--map', 'directory'), { code: 0, out: ['bob@example.test: 127.0.0.4:1110 (user bob@example.test, map directory)'] });
  assert.deepEqual(await ctl('userdb', 'lookup', 'nobody@example.test', '--map', 'directory'), { code: 0, out: ['nobody@example.test: not in user map directory'] });
  const bad = await ctl('userdb', 'lookup', 'bob@example.test', '--map', 'nope');
  assert.equal(bad.code, 1);
  assert.match(bad.out[0]!, /no user map named "nope" \(defined: routes, directory\)/);
  const entry = await ctl('userdb', 'lookup', 'carol@example.test', '--map', 'directory');
  assert.equal(entry.code, 1);
  assert.match(entry.out[0]!, /has no mailHost \[USERDB_BAD_ENTRY\]$/);
});

test('ctl userdb flush: a cached answer survives a frozen directory until the flush', async () => {
  assert.equal((await ctl('userdb', 'lookup', 'alice@example.test', '--map', 'directory')).code, 0);
  await ldap.pause();
  try {
    assert.deepEqual((await ctl('userdb', 'lookup', 'alice@example.test', '--map', 'directory')).out, ['alice@example.test: 127.0.0.3 (user alice@example.test, map directory)']);
    const f = await ctl('--json', 'userdb', 'flush');
    assert.equal(f.code, 0);
    assert.ok(JSON.parse(f.out[0]!).result.flushed >= 1, f.out[0]);
    const t0 = Date.now();
    const down = await ctl('userdb', 'lookup', 'alice@example.test', '--map', 'directory');
    assert.equal(down.code, 1);
    assert.match(down.out[0]!, /\[USERDB_UNAVAILABLE\]$/);
    assert.ok(Date.now() - t0 < 1000 + 3000, `${Date.now() - t0} ms`);
  } finally {
    ldap.resume();
  }
  assert.equal((await ctl('userdb', 'lookup', 'alice@example.test', '--map', 'directory')).code, 0);
});
