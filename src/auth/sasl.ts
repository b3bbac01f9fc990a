/**
 * auth/sasl.ts: the server side of the SASL mechanisms, as protocol-neutral state machines: PLAIN
 * (RFC 4616), LOGIN (draft-murchison-sasl-login), CRAM-MD5 (RFC 2195) and SCRAM-SHA-256 (RFC 5802,
 * RFC 7677; no channel binding: only SCRAM-SHA-256 is offered, never -PLUS). A protocol frames
 * the challenges (SMTP `334 …`, POP3 `+ …`) and maps the outcomes to its replies; the login
 * pipeline (auth/login.ts) drives a machine and checks the credential it yields. The over-long
 * response stays the line session's (`expectLine(h, onTooLong)`).
 *
 *   const m = saslServer('PLAIN', { hostname, scramLookup });
 *   let st = await m.start(initialResponse);       // undefined: none; "=": an empty one
 *   st: { t: 'challenge', data }                    // send it, then `m.step(nextLine)`
 *     | { t: 'verify', credential }                 // check it, then `m.verified(ok)`
 *     | { t: 'success' } | { t: 'fail', reason }
 *
 * Every response line goes through one strict decoder (`decodeBase64`: RFC 4648, padded,
 * canonical; "" is an empty response); `*` cancels. A credential is never checked here: PLAIN
 * and LOGIN yield the password, CRAM-MD5 the challenge and digest, SCRAM-SHA-256 a `prove(keys)`
 * that checks the client's proof against the account's StoredKey and, if right, keeps the
 * server signature sent as the last challenge (`v=…`, answered by an empty response). For a
 * login without SCRAM keys (unknown, or made before them) SCRAM answers with a stand-in salt
 * derived from the login, so the first step does not tell which logins exist.
 *
 * Exports: `SaslMechanism`, `SASL_MECHANISMS`, `DEFAULT_AUTH_TYPES`, `mechanismsOf(configList)`,
 * `decodeBase64`, `saslServer(mechanism, options)`, types `SaslServer`, `SaslStep`,
 * `SaslCredential`, `SaslFailure`, `SaslServerOptions`. Throws nothing (failures are steps).
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { SCRAM_ITERATIONS, type ScramKeys } from '../store/scram.ts';

export type SaslMechanism = 'PLAIN' | 'LOGIN' | 'CRAM-MD5' | 'SCRAM-SHA-256';
/** The mechanisms built here, in the order they are advertised. */
export const SASL_MECHANISMS: readonly SaslMechanism[] = Object.freeze(['PLAIN', 'LOGIN', 'CRAM-MD5', 'SCRAM-SHA-256']);
/** The config's names (plainConnAuthTypes / secureConnAuthTypes) of the mechanisms built here;
 * digestMd5 and gssapi are accepted by the config but never offered. */
const CONFIG_NAME: Readonly<Record<string, SaslMechanism>> = Object.freeze({ plain: 'PLAIN', login: 'LOGIN', cramMd5: 'CRAM-MD5', scramSha256: 'SCRAM-SHA-256' });
export const DEFAULT_AUTH_TYPES: readonly string[] = Object.freeze(['plain', 'login', 'cramMd5', 'scramSha256']);

/** The mechanisms a config list turns on, in SASL_MECHANISMS order (not a list: the default). */
export function mechanismsOf(list: unknown): SaslMechanism[] {
  const names = Array.isArray(list) ? (list as unknown[]) : DEFAULT_AUTH_TYPES;
  return SASL_MECHANISMS.filter((m) => names.some((x) => typeof x === 'string' && CONFIG_NAME[x] === m));
}

/** Why an exchange ended without a login. The last three come from the login pipeline. */
export type SaslFailure =
  | 'cancelled' // the client sent "*"
  | 'bad-base64' // a response that is not strict base64
  | 'malformed' // decoded, but not what the mechanism expects there
  | 'initial-response' // an initial response to a mechanism that takes none (CRAM-MD5)
  | 'refused' // well-formed, refused without a check: empty name or password, another authorization identity, channel binding
  | 'credentials' // checked and wrong: unknown login, wrong password, disabled account, no key for the mechanism
  | 'unavailable' // could not be checked now (the store did not answer)
  | 'abandoned'; // the session went away while its check waited at the gate

export type SaslCredential =
  | { kind: 'password'; authcid: string; password: string }
  | { kind: 'cramMd5'; authcid: string; challenge: string; digest: string }
  | { kind: 'scramSha256'; authcid: string; prove(keys: ScramKeys): boolean };

export type SaslStep =
  | { t: 'challenge'; data: Buffer }
  | { t: 'verify'; credential: SaslCredential }
  | { t: 'success' }
  | { t: 'fail'; reason: SaslFailure };

export interface SaslServer {
  readonly mechanism: SaslMechanism;
  /** The first step; `initial`: the initial response as sent (undefined: none, "=": empty). */
  start(initial?: string): Promise<SaslStep>;
  /** The client's next response line (base64, or "*" to cancel). */
  step(line: string): Promise<SaslStep>;
  /** After a `verify` step: whether the credential was right. */
  verified(ok: boolean): SaslStep;
}

export interface SaslServerOptions {
  /** Names the server in the CRAM-MD5 challenge. */
  hostname: string;
  /** SCRAM-SHA-256: the salt and iteration count of a login's keys; null: none (unknown login or
   * no keys), a stand-in is sent. May reject: the exchange fails as `unavailable`. */
  scramLookup(authcid: string): Promise<{ salt: Buffer; iterations: number } | null>;
  /** The server's nonce part (SCRAM) or the whole challenge (CRAM-MD5); tests inject RFC vectors. */
  nonce?: () => string;
}

/** Strict base64 (RFC 4648: padded, canonical) or null; "" is an empty buffer. */
export function decodeBase64(text: string): Buffer | null {
  if (text.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) return null;
  const b = Buffer.from(text, 'base64');
  return b.toString('base64') === text ? b : null;
}

const fail = (reason: SaslFailure): SaslStep => ({ t: 'fail', reason });
const challenge = (text: string): SaslStep => ({ t: 'challenge', data: Buffer.from(text, 'utf8') });
const verify = (credential: SaslCredential): SaslStep => ({ t: 'verify', credential });
const sameName = (a: string, b: string): boolean => a.toLowerCase() === b.toLowerCase();

/** A response line (or initial response) decoded, or the failure it is. */
function decoded(line: string, initial = false): Buffer | SaslStep {
  if (!initial && line === '*') return fail('cancelled');
  const raw = decodeBase64(initial && line === '=' ? '' : line);
  return raw ?? fail('bad-base64');
}

abstract class Machine implements SaslServer {
  abstract readonly mechanism: SaslMechanism;
  protected abstract receive(raw: Buffer): SaslStep | Promise<SaslStep>;
  protected abstract first(): SaslStep;
  protected done = false;

  async start(initial?: string): Promise<SaslStep> {
    if (initial === undefined) return this.first();
    const raw = decoded(initial, true);
    return Buffer.isBuffer(raw) ? this.receive(raw) : raw;
  }

  async step(line: string): Promise<SaslStep> {
    if (this.done) return fail('malformed');
    const raw = decoded(line);
    return Buffer.isBuffer(raw) ? this.receive(raw) : raw;
  }

  verified(ok: boolean): SaslStep {
    this.done = true;
    return ok ? { t: 'success' } : fail('credentials');
  }
}

class Plain extends Machine {
  readonly mechanism = 'PLAIN' as const;
  protected first(): SaslStep {
    return challenge('');
  }
  protected receive(raw: Buffer): SaslStep {
    const parts = raw.toString('utf8').split('\0');
    if (parts.length !== 3) return fail('malformed');
    const [authzid, authcid, password] = parts as [string, string, string];
    if (authcid === '' || password === '') return fail('refused');
    if (authzid !== '' && !sameName(authzid, authcid)) return fail('refused'); // no proxy authorization
    return verify({ kind: 'password', authcid, password });
  }
}

class Login extends Machine {
  readonly mechanism = 'LOGIN' as const;
  private user: string | null = null;
  protected first(): SaslStep {
    return challenge('Username:');
  }
  protected receive(raw: Buffer): SaslStep {
    if (this.user === null) {
      this.user = raw.toString('utf8');
      return challenge('Password:');
    }
    const password = raw.toString('utf8');
    if (this.user === '' || password === '') return fail('refused');
    return verify({ kind: 'password', authcid: this.user, password });
  }
}

class CramMd5 extends Machine {
  readonly mechanism = 'CRAM-MD5' as const;
  private readonly challenge: string;
  constructor(o: SaslServerOptions) {
    super();
    this.challenge = o.nonce?.() ?? `<${randomBytes(8).readBigUInt64BE().toString()}.${Date.now()}@${o.hostname}>`;
  }
  override async start(initial?: string): Promise<SaslStep> {
    return initial === undefined ? this.first() : fail('initial-response');
  }
  protected first(): SaslStep {
    return challenge(this.challenge);
  }
  protected receive(raw: Buffer): SaslStep {
    const text = raw.toString('utf8');
    const sp = text.lastIndexOf(' ');
    if (sp <= 0) return fail('refused');
    return verify({ kind: 'cramMd5', authcid: text.slice(0, sp), challenge: this.challenge, digest: text.slice(sp + 1) });
  }
}

/** Per thread: keys the stand-in salts of logins without SCRAM keys. */
const STAND_IN_KEY = randomBytes(32);
const hmac = (key: Buffer, text: string | Buffer): Buffer => createHmac('sha256', key).update(text).digest();

/** RFC 5802 saslname: "=2C" is ",", "=3D" is "="; any other "=" is malformed. */
function saslName(s: string): string | null {
  if (/=(?!2C|3D)/.test(s)) return null;
  return s.replace(/=2C/g, ',').replace(/=3D/g, '=');
}

class ScramSha256 extends Machine {
  readonly mechanism = 'SCRAM-SHA-256' as const;
  private phase: 'first' | 'final' | 'verifying' | 'signed' = 'first';
  private gs2Header = '';
  private clientFirstBare = '';
  private serverFirst = '';
  private nonce = '';
  private authcid = '';
  private serverFinal = '';
  private readonly o: SaslServerOptions;
  constructor(o: SaslServerOptions) {
    super();
    this.o = o;
  }
  protected first(): SaslStep {
    return challenge('');
  }
  override verified(ok: boolean): SaslStep {
    if (!ok) return super.verified(false);
    this.phase = 'signed';
    return challenge(this.serverFinal);
  }
  protected receive(raw: Buffer): SaslStep | Promise<SaslStep> {
    const text = raw.toString('utf8');
    if (this.phase === 'first') return this.clientFirst(text);
    if (this.phase === 'final') return this.clientFinal(text);
    if (this.phase === 'verifying') return fail('malformed');
    this.done = true; // after v=…: only an empty response
    return raw.length === 0 ? { t: 'success' } : fail('malformed');
  }

  private async clientFirst(text: string): Promise<SaslStep> {
    // gs2-header: gs2-cbind-flag "," [ "a=" saslname ] ","
    const m = /^(n|y|p=[A-Za-z0-9.-]+),(a=[^,]*)?,/.exec(text);
    if (m === null) return fail('malformed');
    if (m[1]!.startsWith('p=')) return fail('refused'); // channel binding: not offered
    this.gs2Header = m[0];
    this.clientFirstBare = text.slice(m[0].length);
    const attrs = this.clientFirstBare.split(',');
    const n = attrs[0] ?? '';
    const r = attrs[1] ?? '';
    if (!n.startsWith('n=') || !r.startsWith('r=')) return fail('malformed'); // also "m=": no extension is known
    const user = saslName(n.slice(2));
    const cnonce = r.slice(2);
    if (user === null || user === '' || !/^[\x21-\x2b\x2d-\x7e]+$/.test(cnonce)) return fail('malformed');
    if (m[2] !== undefined) {
      const authzid = saslName(m[2].slice(2));
      if (authzid === null) return fail('malformed');
      if (authzid !== '' && !sameName(authzid, user)) return fail('refused');
    }
    let keys: { salt: Buffer; iterations: number } | null;
    try {
      keys = await this.o.scramLookup(user);
    } catch {
      return fail('unavailable');
    }
    const salt = keys?.salt ?? hmac(STAND_IN_KEY, user.toLowerCase()).subarray(0, 16);
    const iterations = keys?.iterations ?? SCRAM_ITERATIONS;
    this.authcid = user;
    this.nonce = cnonce + (this.o.nonce?.() ?? randomBytes(24).toString('base64'));
    this.serverFirst = `r=${this.nonce},s=${salt.toString('base64')},i=${iterations}`;
    this.phase = 'final';
    return challenge(this.serverFirst);
  }

  private clientFinal(text: string): SaslStep {
    const at = text.lastIndexOf(',p=');
    if (at < 0) return fail('malformed');
    const withoutProof = text.slice(0, at);
    const proof = decodeBase64(text.slice(at + 3));
    const attrs = withoutProof.split(',');
    const c = attrs[0] ?? '';
    const r = attrs[1] ?? '';
    if (proof === null || proof.length !== 32 || !c.startsWith('c=') || !r.startsWith('r=')) return fail('malformed');
    const binding = decodeBase64(c.slice(2));
    if (binding === null || !binding.equals(Buffer.from(this.gs2Header, 'utf8'))) return fail('refused');
    if (r.slice(2) !== this.nonce) return fail('refused');
    const authMessage = `${this.clientFirstBare},${this.serverFirst},${withoutProof}`;
    this.phase = 'verifying';
    return verify({
      kind: 'scramSha256',
      authcid: this.authcid,
      prove: (keys: ScramKeys): boolean => {
        const signature = hmac(keys.storedKey, authMessage);
        const clientKey = Buffer.alloc(32);
        for (let i = 0; i < 32; i++) clientKey[i] = proof[i]! ^ signature[i]!;
        const stored = createHash('sha256').update(clientKey).digest();
        if (keys.storedKey.length !== 32 || !timingSafeEqual(stored, keys.storedKey)) return false;
        this.serverFinal = `v=${hmac(keys.serverKey, authMessage).toString('base64')}`;
        return true;
      },
    });
  }
}

export function saslServer(mechanism: SaslMechanism, o: SaslServerOptions): SaslServer {
  switch (mechanism) {
    case 'PLAIN': return new Plain();
    case 'LOGIN': return new Login();
    case 'CRAM-MD5': return new CramMd5(o);
    case 'SCRAM-SHA-256': return new ScramSha256(o);
  }
}
