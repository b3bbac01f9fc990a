/**
 * test/auth/sasl.test.ts: the SASL machines of auth/sasl.ts against the RFCs' vectors (RFC 4616
 * PLAIN, RFC 2195 CRAM-MD5, RFC 7677 SCRAM-SHA-256 with user "user", password "pencil" and the
 * RFC's nonces and salt, the server nonce injected), a table of bad inputs (bad base64, wrong
 * step, cancel, refused identities), the SCRAM key text form of store/scram.ts (strict), and the
 * login pipeline's order of steps (auth/login.ts: gate, resolve, check, result once).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeBase64, mechanismsOf, saslServer, type SaslMechanism, type SaslServer, type SaslStep } from '../../src/auth/sasl.ts';
import { checkLogin, type LoginContext } from '../../src/auth/login.ts';
import { cramMd5Pads, cramMd5Verify } from '../../src/store/cram.ts';
import { formatScramKeys, parseScramKeys, scramSha256Keys } from '../../src/store/scram.ts';
import { PosternError } from '../../src/errors.ts';
import type { AuthInfo } from '../../src/store/types.ts';

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');
const text = (st: SaslStep): string => {
  assert.equal(st.t, 'challenge', JSON.stringify(st));
  return (st as { data: Buffer }).data.toString('utf8');
};

// RFC 7677 §3
const RFC7677 = {
  user: 'user',
  password: 'pencil',
  salt: Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64'),
  serverNonce: '%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0',
  clientFirst: 'n,,n=user,r=rOprNGfwEbeRWgbNEkqO',
  serverFirst: 'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096',
  clientFinal: 'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=',
  serverFinal: 'v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=',
};

function server(mech: SaslMechanism, nonce?: string): SaslServer {
  return saslServer(mech, {
    hostname: 'mx.test',
    nonce: nonce === undefined ? undefined : () => nonce,
    scramLookup: async (login) => (login === RFC7677.user ? { salt: RFC7677.salt, iterations: 4096 } : null),
  });
}

test('RFC 4616 PLAIN: "\\0tim\\0tanstaaftanstaaf" yields the password; "Ursel\\0Kurt\\0xipj3plmq" (another authorization identity) is refused', async () => {
  const m = server('PLAIN');
  const st = await m.start(b64('\0tim\0tanstaaftanstaaf'));
  assert.deepEqual(st, { t: 'verify', credential: { kind: 'password', authcid: 'tim', password: 'tanstaaftanstaaf' } });
  assert.deepEqual(m.verified(true), { t: 'success' });
  assert.deepEqual(await server('PLAIN').start(b64('Ursel\0Kurt\0xipj3plmq')), { t: 'fail', reason: 'refused' });
  // no initial response: an empty challenge, then the same
  const n = server('PLAIN');
  assert.equal(text(await n.start()), '');
  assert.equal((await n.step(b64('Kurt\0Kurt\0xipj3plmq'))).t, 'verify', 'an authorization identity equal to the login is fine');
  assert.deepEqual(n.verified(false), { t: 'fail', reason: 'credentials' });
});

test('LOGIN: Username:, Password:, then the password; the user name may be the initial response', async () => {
  const m = server('LOGIN');
  assert.equal(text(await m.start()), 'Username:');
  assert.equal(text(await m.step(b64('tim'))), 'Password:');
  assert.deepEqual(await m.step(b64('tanstaaftanstaaf')), { t: 'verify', credential: { kind: 'password', authcid: 'tim', password: 'tanstaaftanstaaf' } });
  const i = server('LOGIN');
  assert.equal(text(await i.start(b64('tim'))), 'Password:');
});

test('RFC 2195 CRAM-MD5: the RFC challenge, "tim b913a602c7eda7a495b4e6e7334d3890" matches the pads of "tanstaaftanstaaf"', async () => {
  const challenge = '<1896.697170952@postoffice.reston.mci.net>';
  const m = server('CRAM-MD5', challenge);
  assert.equal(text(await m.start()), challenge);
  const st = await m.step(b64('tim b913a602c7eda7a495b4e6e7334d3890'));
  assert.equal(st.t, 'verify');
  const c = (st as Extract<SaslStep, { t: 'verify' }>).credential;
  assert.deepEqual(c, { kind: 'cramMd5', authcid: 'tim', challenge, digest: 'b913a602c7eda7a495b4e6e7334d3890' });
  assert.ok(c.kind === 'cramMd5' && cramMd5Verify(cramMd5Pads('tanstaaftanstaaf'), c.challenge, c.digest));
  assert.ok(!cramMd5Verify(cramMd5Pads('wrong'), challenge, 'b913a602c7eda7a495b4e6e7334d3890'));
  // a fresh challenge each time, naming the host
  assert.match(text(await server('CRAM-MD5').start()), /^<\d+\.\d+@mx\.test>$/);
});

test('RFC 7677 SCRAM-SHA-256: the RFC exchange, byte for byte (user "user", password "pencil", the RFC nonces and salt)', async () => {
  const keys = parseScramKeys(await scramSha256Keys(RFC7677.password, { salt: RFC7677.salt, iterations: 4096 }));
  assert.ok(keys !== null);
  const m = server('SCRAM-SHA-256', RFC7677.serverNonce);
  assert.equal(text(await m.start()), '', 'no initial response: an empty challenge');
  assert.equal(text(await m.step(b64(RFC7677.clientFirst))), RFC7677.serverFirst);
  const st = await m.step(b64(RFC7677.clientFinal));
  assert.equal(st.t, 'verify');
  const c = (st as Extract<SaslStep, { t: 'verify' }>).credential;
  assert.equal(c.authcid, 'user');
  assert.ok(c.kind === 'scramSha256' && c.prove(keys));
  assert.equal(text(m.verified(true)), RFC7677.serverFinal);
  assert.deepEqual(await m.step(''), { t: 'success' });
  // the same with the client-first as initial response; a wrong password's keys fail the proof
  const i = server('SCRAM-SHA-256', RFC7677.serverNonce);
  assert.equal(text(await i.start(b64(RFC7677.clientFirst))), RFC7677.serverFirst);
  const st2 = await i.step(b64(RFC7677.clientFinal));
  const wrong = parseScramKeys(await scramSha256Keys('pencils', { salt: RFC7677.salt }))!;
  assert.ok(st2.t === 'verify' && st2.credential.kind === 'scramSha256' && !st2.credential.prove(wrong));
  assert.deepEqual(i.verified(false), { t: 'fail', reason: 'credentials' });
});

test('SCRAM-SHA-256: a login without keys gets a stand-in salt, the same each time, and 4096 iterations', async () => {
  const first = async (): Promise<string> => text(await server('SCRAM-SHA-256', 'SN').start(b64('n,,n=nobody,r=abc')));
  const a = await first();
  assert.match(a, /^r=abcSN,s=[A-Za-z0-9+/]{22}==,i=4096$/);
  assert.equal(await first(), a);
});

type Case = [name: string, mech: SaslMechanism, steps: Array<string | undefined>, want: string];
const BAD: Case[] = [
  // [name, mechanism, initial response then responses (undefined: no initial response), expected last step]
  ['bad base64 (characters)', 'PLAIN', ['!!notbase64'], 'fail:bad-base64'],
  ['bad base64 (no padding)', 'PLAIN', ['AHRpbQB0aW0'], 'fail:bad-base64'],
  ['bad base64 (non-zero trailing bits)', 'LOGIN', [undefined, 'dGl='], 'fail:bad-base64'],
  ['bad base64 (inner whitespace)', 'PLAIN', [undefined, 'AHRp bQB0'], 'fail:bad-base64'],
  ['"=" is an empty initial response, not a response', 'PLAIN', [undefined, '='], 'fail:bad-base64'],
  ['cancel at the first challenge', 'PLAIN', [undefined, '*'], 'fail:cancelled'],
  ['cancel at Password:', 'LOGIN', [b64('tim'), '*'], 'fail:cancelled'],
  ['cancel a CRAM-MD5 challenge', 'CRAM-MD5', [undefined, '*'], 'fail:cancelled'],
  ['cancel SCRAM after server-first', 'SCRAM-SHA-256', [b64(RFC7677.clientFirst), '*'], 'fail:cancelled'],
  ['cancel SCRAM instead of the last empty response', 'SCRAM-SHA-256', [b64(RFC7677.clientFirst), b64(RFC7677.clientFinal), 'verified', '*'], 'fail:cancelled'],
  ['PLAIN with two fields', 'PLAIN', [b64('tim\0pw')], 'fail:malformed'],
  ['PLAIN with an empty password', 'PLAIN', [b64('\0tim\0')], 'fail:refused'],
  ['PLAIN with an empty login', 'PLAIN', [b64('\0\0pw')], 'fail:refused'],
  ['LOGIN with an empty password', 'LOGIN', [b64('tim'), ''], 'fail:refused'],
  ['CRAM-MD5 with an initial response', 'CRAM-MD5', [b64('tim 00')], 'fail:initial-response'],
  ['CRAM-MD5 without a space', 'CRAM-MD5', [undefined, b64('tim')], 'fail:refused'],
  ['SCRAM: the client-final message first (wrong step)', 'SCRAM-SHA-256', [b64(RFC7677.clientFinal)], 'fail:malformed'],
  ['SCRAM: the client-first message twice (wrong step)', 'SCRAM-SHA-256', [b64(RFC7677.clientFirst), b64(RFC7677.clientFirst)], 'fail:malformed'],
  ['SCRAM: a response after the exchange ended', 'SCRAM-SHA-256', [b64(RFC7677.clientFirst), b64(RFC7677.clientFinal), 'verified', '', ''], 'fail:malformed'],
  ['SCRAM: data instead of the last empty response', 'SCRAM-SHA-256', [b64(RFC7677.clientFirst), b64(RFC7677.clientFinal), 'verified', b64('x')], 'fail:malformed'],
  ['SCRAM: channel binding asked (p=)', 'SCRAM-SHA-256', [b64('p=tls-unique,,n=user,r=abc')], 'fail:refused'],
  ['SCRAM: another authorization identity', 'SCRAM-SHA-256', [b64('n,a=admin,n=user,r=abc')], 'fail:refused'],
  ['SCRAM: a mandatory extension (m=)', 'SCRAM-SHA-256', [b64('n,,m=ext,n=user,r=abc')], 'fail:malformed'],
  ['SCRAM: a bad saslname escape', 'SCRAM-SHA-256', [b64('n,,n=us=er,r=abc')], 'fail:malformed'],
  ['SCRAM: an empty nonce', 'SCRAM-SHA-256', [b64('n,,n=user,r=')], 'fail:malformed'],
  ['SCRAM: a final message with another nonce', 'SCRAM-SHA-256', [b64(RFC7677.clientFirst), b64(RFC7677.clientFinal.replace('k0,p=', 'k1,p='))], 'fail:refused'],
  ['SCRAM: a final message with another channel binding', 'SCRAM-SHA-256', [b64(RFC7677.clientFirst), b64(RFC7677.clientFinal.replace('c=biws', 'c=eSws'))], 'fail:refused'],
  ['SCRAM: a final message without a proof', 'SCRAM-SHA-256', [b64(RFC7677.clientFirst), b64(RFC7677.clientFinal.replace(/,p=.*$/, ''))], 'fail:malformed'],
  ['SCRAM: a short proof', 'SCRAM-SHA-256', [b64(RFC7677.clientFirst), b64(RFC7677.clientFinal.replace(/,p=.*$/, ',p=AAAA'))], 'fail:malformed'],
];

for (const [name, mech, steps, want] of BAD) {
  test(`bad input: ${name} → ${want}`, async () => {
    const m = server(mech, RFC7677.serverNonce);
    const keys = parseScramKeys(await scramSha256Keys(RFC7677.password, { salt: RFC7677.salt }))!;
    let st: SaslStep = await m.start(steps[0]);
    for (const s of steps.slice(1)) {
      if (s === 'verified') {
        assert.ok(st.t === 'verify' && st.credential.kind === 'scramSha256' && st.credential.prove(keys));
        st = m.verified(true);
        continue;
      }
      assert.notEqual(st.t, 'fail', `failed early: ${JSON.stringify(st)}`);
      st = await m.step(s ?? '');
    }
    assert.equal(st.t === 'fail' ? `fail:${st.reason}` : st.t, want);
  });
}

test('decodeBase64: strict RFC 4648 (padded, canonical); "" is empty', () => {
  assert.deepEqual(decodeBase64(''), Buffer.alloc(0));
  assert.equal(decodeBase64('dGlt')?.toString(), 'tim');
  assert.equal(decodeBase64('dGk=')?.toString(), 'ti');
  for (const bad of ['dGk', 'dGl=', 'dG==x', 'dGlt\r\n', ' dGlt', 'dG=t', 'dGlt====', '-_-_']) assert.equal(decodeBase64(bad), null, bad);
});

test('mechanismsOf: config names to wire names, in one order; unknown and unimplemented dropped; default: all four', () => {
  assert.deepEqual(mechanismsOf(undefined), ['PLAIN', 'LOGIN', 'CRAM-MD5', 'SCRAM-SHA-256']);
  assert.deepEqual(mechanismsOf(['scramSha256', 'login', 'gssapi', 'digestMd5']), ['LOGIN', 'SCRAM-SHA-256']);
  assert.deepEqual(mechanismsOf([]), []);
});

test('store/scram.ts: the text form round-trips; anything Postern would not write is refused', async () => {
  const t = await scramSha256Keys('pencil', { salt: RFC7677.salt });
  assert.match(t, /^SCRAM-SHA-256\$4096:W22ZaJ0SNY7soEsUEjb6gQ==\$[A-Za-z0-9+/]{43}=:[A-Za-z0-9+/]{43}=$/);
  const k = parseScramKeys(t)!;
  assert.equal(formatScramKeys(k), t);
  const [head, keys] = [t.slice(0, t.lastIndexOf('$')), t.slice(t.lastIndexOf('$') + 1)];
  const [stored, srv] = keys.split(':') as [string, string];
  for (const bad of [
    '', 'scram', t.replace('SCRAM-SHA-256', 'SCRAM-SHA-1'), t.replace('$4096:', '$4095:'), t.replace('$4096:', '$04096:'),
    t.replace('$4096:', '$99999999:'), `${head}$${stored}`, `${head}$${stored}:${srv}:x`, `${head}$${stored.slice(4)}:${srv}`,
    t.replace('W22ZaJ0SNY7soEsUEjb6gQ==', 'W22ZaJ0SNY7s'), `${t}\n`, t.replace('W22ZaJ0SNY7soEsUEjb6gQ==', 'W22ZaJ0SNY7soEsUEjb6gR=='),
  ]) assert.equal(parseScramKeys(bad), null, bad);
  assert.equal(parseScramKeys(42), null);
});

test('auth/login.ts: gate before the directory, the check, then one result; a banned IP is never resolved', async () => {
  const calls: string[] = [];
  const pads = cramMd5Pads('tanstaaftanstaaf');
  const info: AuthInfo = {
    account: { id: 1, address: 'tim@example.org', domain: 'example.org', enabled: true, quotaBytes: Infinity, quotaMessages: Infinity, services: 'all', cramMd5: true, shard: 0, createdAt: 0 },
    passwordHash: 'x', cramMd5Pads: pads, scramSha256: null,
  };
  let banned = false;
  const ctx: LoginContext = {
    store: {
      authInfo: async (login) => {
        calls.push(`resolve ${login}`);
        if (login !== 'tim') throw new PosternError('STORE_AUTH_FAILED', 'authentication failed', { reason: 'unknown' });
        return info;
      },
    },
    log: { debug() {}, warn() {} } as unknown as LoginContext['log'],
    runTask: async (_t, p) => {
      calls.push('scrypt');
      return (p as { password: string }).password === 'right' && (p as { hash: string }).hash === 'x';
    },
    loginGate: async () => {
      calls.push('gate');
      return !banned;
    },
    loginResult: (ok, user) => void calls.push(`result ${String(ok)} ${user}`),
  };
  const challenge = '<1896.697170952@postoffice.reston.mci.net>';
  const ok = await checkLogin(ctx, { kind: 'cramMd5', authcid: 'tim', challenge, digest: 'b913a602c7eda7a495b4e6e7334d3890' }, { service: 'smtp' });
  assert.ok(ok.ok && ok.account.address === 'tim@example.org');
  assert.deepEqual(calls.splice(0), ['gate', 'resolve tim', 'result true tim']);
  assert.deepEqual(await checkLogin(ctx, { kind: 'password', authcid: 'tim', password: 'wrong' }, { service: 'smtp' }), { ok: false, reason: 'credentials' });
  assert.deepEqual(calls.splice(0), ['gate', 'resolve tim', 'scrypt', 'result false tim']);
  assert.deepEqual(await checkLogin(ctx, { kind: 'password', authcid: 'nobody', password: 'right' }, { service: 'smtp' }), { ok: false, reason: 'credentials' });
  assert.deepEqual(calls.splice(0), ['gate', 'resolve nobody', 'scrypt', 'result false nobody'], 'an unknown login costs a scrypt run too');
  banned = true;
  assert.deepEqual(await checkLogin(ctx, { kind: 'password', authcid: 'tim', password: 'right' }, { service: 'smtp' }), { ok: false, reason: 'credentials' });
  assert.deepEqual(calls.splice(0), ['gate']);
});
