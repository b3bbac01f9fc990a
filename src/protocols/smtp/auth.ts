/**
 * protocols/smtp/auth.ts: AUTH (RFC 4954) with PLAIN (RFC 4616), LOGIN and CRAM-MD5 (RFC 2195).
 * Which mechanisms a client may use depends on the connection: `plainConnAuthTypes` before
 * TLS, `secureConnAuthTypes` after. Every check first waits out the remote IP's failure delay
 * (`ctx.loginGate()`, the service's login throttle, auth/throttle.ts; a banned IP fails without a
 * check) and reports its outcome (`ctx.loginResult`). Passwords are checked on the service's pool
 * (`verifyPassword`), through the store's `authenticate` (an unknown login costs the same as a
 * wrong password); CRAM-MD5 uses the account's stored HMAC pads (`cramMd5Verify`). A failed
 * authentication counts against maxAuthErrors; continuation lines may be 12288 bytes (RFC 4954
 * §4): a longer one ends the exchange as a failed authentication (500 5.5.6); "*" cancels.
 *
 * Exports: `authCommand(args, s)`. Throws nothing (failures are replies).
 */
import { randomBytes } from 'node:crypto';
import { PosternError, isPosternError } from '../../errors.ts';
import type { AccountInfo } from '../../store/types.ts';
import { reply, type Verdict } from '../../session/line-session.ts';
import { cramMd5Verify } from '../../store/cram.ts';
import type { Mechanism } from './options.ts';
import type { S, Session } from './state.ts';

const AUTH_LINE_MAX = 12288;
const KNOWN: ReadonlySet<string> = new Set<Mechanism>(['PLAIN', 'LOGIN', 'CRAM-MD5']);
const B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

type V = Verdict<S>;

const cannotDecode = (): V => reply('501 5.5.2 Error: cannot decode the response\r\n', { error: 'command' });
// RFC 4954 §6: the exchange ends as a failed authentication; the next line is a command again
const tooLong = (): V => reply(`500 5.5.6 Authentication exchange line is too long (at most ${AUTH_LINE_MAX} bytes)\r\n`, { error: 'auth' });
const failed = (): V => reply('535 5.7.8 Error: authentication failed\r\n', { error: 'auth' });

function b64(text: string): Buffer | null {
  return B64.test(text) ? Buffer.from(text, 'base64') : null;
}

/** Send a 334 challenge; the client's next line goes to `next` (unless it is "*"). */
function ask(s: Session, prompt: string, next: (response: string) => V | Promise<V>): V {
  s.setMaxLineLength(AUTH_LINE_MAX);
  s.expectLine((line) => {
    s.expectLine(null);
    s.setMaxLineLength(s.data.o.maxLineLength);
    const t = line.toString('latin1').trim();
    if (t === '*') return reply('501 5.0.0 Authentication cancelled\r\n', { error: 'command' });
    return next(t);
  }, () => {
    s.setMaxLineLength(s.data.o.maxLineLength);
    return tooLong();
  });
  return reply(`334 ${prompt}\r\n`);
}

/** Gate, check, report: `check` resolves the account or rejects STORE_AUTH_FAILED. */
async function checked(s: Session, login: string, check: () => Promise<AccountInfo>): Promise<V> {
  if (s.ctx.store === null) return reply('454 4.7.0 Temporary authentication failure\r\n');
  if (!(await s.ctx.loginGate())) return failed(); // banned: no check
  try {
    const account = await check();
    s.ctx.loginResult(true, login);
    return success(s, account.address);
  } catch (e) {
    if (isPosternError(e, 'STORE_AUTH_FAILED')) {
      s.ctx.loginResult(false, login);
      return failed();
    }
    s.ctx.loginResult(null, login);
    s.ctx.log.error({ err: e }, 'smtp: authentication could not be checked');
    return reply('454 4.7.0 Temporary authentication failure\r\n');
  }
}

function verify(s: Session, login: string, password: string): Promise<V> {
  return checked(s, login, () => s.ctx.store!.authenticate(login, password, 'smtp',
    async (hash, pw) => (await s.ctx.runTask('verifyPassword', { password: pw, hash })) === true));
}

function success(s: Session, address: string): V {
  s.data.auth = address;
  return reply('235 2.7.0 Authentication successful\r\n');
}

function plain(s: Session, response: string): V | Promise<V> {
  const raw = b64(response);
  if (raw === null) return cannotDecode();
  const parts = raw.toString('utf8').split('\0');
  if (parts.length !== 3) return cannotDecode();
  const [authz, login, password] = parts as [string, string, string];
  if (login === '' || password === '') return failed();
  if (authz !== '' && authz.toLowerCase() !== login.toLowerCase()) return failed(); // no proxy authorization
  return verify(s, login, password);
}

function login(s: Session, initialUser: string | undefined): V | Promise<V> {
  const withUser = (userB64: string): V | Promise<V> => {
    const user = b64(userB64);
    if (user === null) return cannotDecode();
    return ask(s, Buffer.from('Password:').toString('base64'), (pwB64) => {
      const pw = b64(pwB64);
      if (pw === null) return cannotDecode();
      return verify(s, user.toString('utf8'), pw.toString('utf8'));
    });
  };
  if (initialUser !== undefined) return withUser(initialUser);
  return ask(s, Buffer.from('Username:').toString('base64'), withUser);
}

function cramMd5(s: Session): V {
  const challenge = `<${randomBytes(8).readBigUInt64BE().toString()}.${Date.now()}@${s.data.o.hostname}>`;
  return ask(s, Buffer.from(challenge).toString('base64'), async (response) => {
    const raw = b64(response);
    if (raw === null) return cannotDecode();
    const text = raw.toString('utf8');
    const sp = text.lastIndexOf(' ');
    if (sp <= 0) return failed();
    const user = text.slice(0, sp);
    const digest = text.slice(sp + 1);
    return checked(s, user, async () => {
      const info = await s.ctx.store!.authInfo(user, 'smtp');
      if (info.cramMd5Pads === null || !cramMd5Verify(info.cramMd5Pads, challenge, digest)) throw new PosternError('STORE_AUTH_FAILED', 'authentication failed');
      return info.account;
    });
  });
}

export function authCommand(args: string, s: Session): V | Promise<V> {
  const d = s.data;
  if (d.auth !== null) return reply('503 5.5.1 Error: already authenticated\r\n', { error: 'command' });
  const words = args.trim().split(/\s+/);
  const mech = (words[0] ?? '').toUpperCase();
  const initial = words[1];
  if (mech === '' || words.length > 2) return reply('501 5.5.4 Syntax: AUTH mechanism [initial-response]\r\n', { error: 'command' });
  const allowed = s.secure ? d.o.secureAuth : d.o.plainAuth;
  if (!KNOWN.has(mech)) return reply('504 5.5.4 Unrecognized authentication type\r\n', { error: 'command' });
  if (!allowed.includes(mech as Mechanism)) {
    if (!s.secure && d.tlsAvailable && d.o.secureAuth.includes(mech as Mechanism)) return reply('538 5.7.11 Encryption required for requested authentication mechanism\r\n', { error: 'command' });
    return reply('504 5.5.4 Authentication mechanism not allowed on this connection\r\n', { error: 'command' });
  }
  switch (mech as Mechanism) {
    case 'PLAIN':
      return initial === undefined ? ask(s, '', (r) => plain(s, r)) : plain(s, initial === '=' ? '' : initial);
    case 'LOGIN':
      return login(s, initial);
    case 'CRAM-MD5':
      if (initial !== undefined) return reply('501 5.5.4 CRAM-MD5 takes no initial response\r\n', { error: 'command' });
      return cramMd5(s);
  }
}
