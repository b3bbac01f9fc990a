/**
 * test/proxy/ldap-cache.test.ts: the verified-login cache (authCacheSize / authCacheTtl) over
 * passwords an LDAP directory checked (auth/cache.ts `ldapCacheTag`), on the proxy (an LDAP
 * Password user map, authenticateOnProxy) and on a back end (`userdbConnectorType = ldap`, LDAP
 * Bind). A hit is proven by freezing slapd (SIGSTOP) after a warm login: the cached login still
 * works, anything the cache does not hold (a wrong password, an evicted or expired login, a
 * service with the cache off) asks the frozen directory and fails temporarily. The route's
 * lookup is the connector's own answer cache (cacheTtl), so it needs no directory either.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { pop3 } from '../pop3/helpers.ts';
import { startPop3, type Pop3Env } from '../pop3/helpers.ts';
import { imap, tagged, type ImapEnv } from '../imap/helpers.ts';
import { startLdapServer, type LdapServer } from '../ldap-server.ts';
import { startBackend, startFront, type Front } from './helpers.ts';

let back: ImapEnv;
let ldap: LdapServer;
let front: Front; // POP3: authCacheSize 1; IMAP: authCacheSize 0 (off)
let shortTtl: Front; // POP3: authCacheTtl 1 s
let ldapBack: Pop3Env; // a back end checking by LDAP Bind, the default cache

const USERS = ['c1@example.org', 'c2@example.org', 'c3@example.org'];

before(async () => {
  back = await startBackend(USERS);
  ldap = await startLdapServer({
    users: [
      ...USERS.map((mail) => ({ mail, password: `pw-${mail.split('@')[0]}`, scheme: 'clear' as const, mailHost: '127.0.0.1' })),
      { mail: 'ann@example.org', password: 'ann-directory-pw', scheme: 'ssha', mailHost: '127.0.0.1' },
    ],
  });
  const connector = `userdb = { ldapConnectors = ( { name = "dir" urls = ("${ldap.url}") bindDn = "${ldap.bindDn}" bindPassword = "${ldap.bindPassword}" baseDn = "${ldap.baseDn}" timeout = 1 cacheTtl = 600 } ) }`;
  const server = `${connector}
      userMaps = ( { name = "pw" type = ldapPassword ldapConnector = "dir" } )`;
  front = await startFront({
    server,
    both: `authenticateOnProxy = yes userMap = "pw" connectionData = { rwTimeout = 2 }`,
    pop3: `authCacheSize = 1 mappingData = { mappingPort = ${back.pop3Port} }`,
    imap: `authCacheSize = 0 mappingData = { mappingPort = ${back.port} }`,
  });
  shortTtl = await startFront({
    server,
    services: ['pop3Proxy'],
    pop3: `authenticateOnProxy = yes userMap = "pw" connectionData = { rwTimeout = 2 } authCacheTtl = 1 mappingData = { mappingPort = ${back.pop3Port} }`,
  });
  ldapBack = await startPop3({ server: connector, pop3: 'userdbConnectorType = ldap userdbConnectorName = dir' });
  await ldapBack.addUser('ann@example.org', 'ann-local-pw');
});

after(async () => {
  ldap?.resume();
  await front?.stop();
  await shortTtl?.stop();
  await ldapBack?.stop();
  await back?.stop();
  await ldap?.stop();
});

const popLogin = async (port: number, user: string, password: string): Promise<string> => {
  const c = await pop3(port);
  try {
    return await c.login(user, password);
  } finally {
    c.close();
  }
};
const pw = (u: string): string => `pw-${u.split('@')[0]}`;

/** `fn` with slapd frozen (accepts, never answers). */
async function frozen(fn: () => Promise<void>): Promise<void> {
  await ldap.pause();
  try {
    await fn();
  } finally {
    ldap.resume();
  }
}

test('proxy: a login the directory accepted is served from the cache with the directory frozen; a wrong password still asks it', async () => {
  const [c1] = USERS as [string];
  assert.match(await popLogin(front.pop3, c1, pw(c1)), /^\+OK/);
  await frozen(async () => {
    assert.match(await popLogin(front.pop3, c1, pw(c1)), /^\+OK/, 'a cache hit: no directory needed');
    assert.match(await popLogin(front.pop3, c1, 'not-the-password'), /^-ERR \[SYS\/TEMP\]/, 'a miss asks the frozen directory: a temporary error');
  });
});

test('proxy: authCacheSize bounds the cache (the oldest login is evicted)', async () => {
  const [, c2, c3] = USERS as [string, string, string];
  assert.match(await popLogin(front.pop3, c2, pw(c2)), /^\+OK/);
  assert.match(await popLogin(front.pop3, c3, pw(c3)), /^\+OK/); // authCacheSize 1: c2 goes
  await frozen(async () => {
    assert.match(await popLogin(front.pop3, c3, pw(c3)), /^\+OK/);
    assert.match(await popLogin(front.pop3, c2, pw(c2)), /^-ERR \[SYS\/TEMP\]/, 'evicted: the directory is asked');
  });
});

test('proxy: authCacheSize 0 turns the cache off', async () => {
  const [c1] = USERS as [string];
  const i = await imap(front.imap);
  assert.match(tagged(await i.run(`LOGIN ${c1} ${pw(c1)}`)), /^OK/);
  i.close();
  await frozen(async () => {
    const j = await imap(front.imap);
    assert.match(tagged(await j.run(`LOGIN ${c1} ${pw(c1)}`, 't1', 20_000)), /^NO \[UNAVAILABLE\]/);
    j.close();
  });
});

test('proxy: a cached login expires after authCacheTtl', async () => {
  const [c1] = USERS as [string];
  assert.match(await popLogin(shortTtl.pop3, c1, pw(c1)), /^\+OK/);
  await sleep(1500); // past authCacheTtl = 1 s
  await frozen(async () => {
    assert.match(await popLogin(shortTtl.pop3, c1, pw(c1)), /^-ERR \[SYS\/TEMP\]/, 'expired: the directory is asked');
  });
});

test('back end (userdbConnectorType ldap): an LDAP Bind the directory accepted is served from the cache with the directory frozen', async () => {
  assert.match(await popLogin(ldapBack.port, 'ann@example.org', 'ann-directory-pw'), /^\+OK/);
  assert.match(await popLogin(ldapBack.port, 'ann@example.org', 'ann-local-pw'), /^-ERR \[AUTH\]/, 'the store\'s password is not the directory\'s');
  await frozen(async () => {
    assert.match(await popLogin(ldapBack.port, 'ann@example.org', 'ann-directory-pw'), /^\+OK/, 'a cache hit');
    assert.match(await popLogin(ldapBack.port, 'ann@example.org', 'another-pw'), /^-ERR \[SYS\/TEMP\]/, 'a miss asks the frozen directory');
  });
});
