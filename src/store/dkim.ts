/**
 * store/dkim.ts: DKIM keys of the local domains (RFC 6376, RFC 8463), and signing with them.
 * The store owns the keys: each domain's key is a field of its record in the directory
 * (directory.ts `DomainRec.dkim`, durable with it: `<store>/directory.mpk`, replaced
 * atomically), set by `ctl domain dkim DOMAIN [--selector S] [--algorithm rsa|ed25519]`
 * (store/admin.ts) and read by smtpOutgoing through `StoreClient.dkimKey(domain)`.
 *
 *   const key = generateDkimKey('example.com', { selector: 'postern', algorithm: 'rsa' });
 *   dkimTxtRecord(key)  // postern._domainkey.example.com. IN TXT "v=DKIM1; k=rsa; p=MIIB…"
 *   const signed = await signMessage(key, body);  // DKIM-Signature: … + body
 *
 * Keys: RSA 2048 (rsa-sha256) or Ed25519 (ed25519-sha256), made with node:crypto; the private
 * key is kept as PKCS#8 PEM, the public one as the base64 DER the TXT record's `p=` carries
 * (SubjectPublicKeyInfo for RSA; the raw 32-byte key for Ed25519, RFC 8463 §4.2). A long TXT
 * value is written as several quoted strings of at most 255 characters (RFC 7208 §3.3 style).
 *
 * Signing: mailauth's `dkimSign`, relaxed/relaxed, the usual header fields (From, To, Cc,
 * Subject, Date, Message-ID, Reply-To, In-Reply-To, References, MIME-Version, Content-Type,
 * Content-Transfer-Encoding, List-* …: mailauth's default list, From always among them).
 *
 * Which key: the caller's choice; DMARC alignment wants the author's, and `authorDomain(body)`
 * gives the From: field's domain (lower case; null when there is none or it has no domain).
 *
 * Exports: `DkimKey`, `DkimAlgorithm`, `DKIM_SELECTOR_DEFAULT`, `generateDkimKey`,
 * `dkimTxtRecord`, `dkimTxtValue`, `checkDkimKey`, `signMessage`, `authorDomain`.
 * Throws: STORE_BAD_ARGUMENT (a bad selector or algorithm; a malformed key); `signMessage`
 * rejects with STORE_BAD_ARGUMENT when mailauth cannot sign (no From header, a bad key).
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { PosternError } from '../errors.ts';

export type DkimAlgorithm = 'rsa' | 'ed25519';

export interface DkimKey {
  domain: string;
  selector: string;
  algorithm: DkimAlgorithm;
  /** PKCS#8 PEM. */
  privateKey: string;
  /** base64, as the TXT record's p= carries it. */
  publicKey: string;
  createdAt: number;
}

export const DKIM_SELECTOR_DEFAULT = 'postern';

/** A selector is one or more DNS labels (RFC 6376 §3.1). */
const SELECTOR = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/i;

function bad(message: string, details: Record<string, unknown> = {}): PosternError {
  return new PosternError('STORE_BAD_ARGUMENT', message, details);
}

export function generateDkimKey(domain: string, o: { selector?: string; algorithm?: string } = {}): DkimKey {
  const selector = (o.selector ?? DKIM_SELECTOR_DEFAULT).toLowerCase();
  if (!SELECTOR.test(selector) || selector.length > 253) throw bad(`bad DKIM selector '${selector}'`, { selector });
  const algorithm = o.algorithm ?? 'rsa';
  if (algorithm !== 'rsa' && algorithm !== 'ed25519') throw bad(`DKIM algorithm must be rsa or ed25519, not '${algorithm}'`, { algorithm });
  let privateKey: string;
  let publicKey: string;
  if (algorithm === 'rsa') {
    const k = generateKeyPairSync('rsa', { modulusLength: 2048 });
    privateKey = k.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    publicKey = (k.publicKey.export({ type: 'spki', format: 'der' }) as Buffer).toString('base64');
  } else {
    const k = generateKeyPairSync('ed25519');
    privateKey = k.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    const spki = k.publicKey.export({ type: 'spki', format: 'der' }) as Buffer;
    publicKey = spki.subarray(spki.length - 32).toString('base64'); // RFC 8463 §4.2: the raw key
  }
  return { domain: domain.toLowerCase(), selector, algorithm, privateKey, publicKey, createdAt: Date.now() };
}

/** Check a key read back from the directory (or restored): the fields and that the PEM parses. */
export function checkDkimKey(k: unknown): DkimKey {
  const x = k as DkimKey;
  if (x === null || typeof x !== 'object' || typeof x.domain !== 'string' || typeof x.selector !== 'string' || (x.algorithm !== 'rsa' && x.algorithm !== 'ed25519') || typeof x.privateKey !== 'string' || typeof x.publicKey !== 'string') {
    throw bad('malformed DKIM key');
  }
  try {
    const pub = createPublicKey(createPrivateKey(x.privateKey));
    if (pub.asymmetricKeyType !== x.algorithm) throw new Error('algorithm mismatch');
  } catch (e) {
    throw bad(`malformed DKIM key: ${(e as Error).message}`);
  }
  return x;
}

/** The TXT record's value: `v=DKIM1; k=rsa; p=…`. */
export function dkimTxtValue(k: DkimKey): string {
  return `v=DKIM1; k=${k.algorithm}; p=${k.publicKey}`;
}

/** The record to publish, in zone-file form; a value over 255 characters is split into
 * several quoted strings (a resolver joins them). */
export function dkimTxtRecord(k: DkimKey): string {
  const v = dkimTxtValue(k);
  const chunks: string[] = [];
  for (let i = 0; i < v.length; i += 255) chunks.push(`"${v.slice(i, i + 255)}"`);
  return `${k.selector}._domainkey.${k.domain}. IN TXT ${chunks.join(' ')}`;
}

/** The message with a DKIM-Signature field on top (relaxed/relaxed, mailauth's header list). */
export async function signMessage(key: DkimKey, body: Buffer): Promise<Buffer> {
  // loaded on first use: the store thread imports this module for its key verbs only, and
  // mailauth (with joi, the ASN.1 and TLD tables it brings) kept ~7 MB of its heap for nothing
  const { dkimSign } = await import('mailauth');
  const r = await dkimSign(body, {
    canonicalization: 'relaxed/relaxed',
    // mailauth 7.1 signs what signatureData lists (its typings also ask for the top-level three)
    signingDomain: key.domain,
    selector: key.selector,
    privateKey: key.privateKey,
    signatureData: [{ signingDomain: key.domain, selector: key.selector, privateKey: key.privateKey }],
  });
  if (r.signatures === '' || r.errors.length > 0) {
    const e = r.errors[0]?.err as (Error & { code?: string }) | undefined;
    throw bad(`cannot DKIM-sign for ${key.domain}: ${e?.message ?? 'no signature made'}`, { domain: key.domain, reason: e?.code ?? null });
  }
  return Buffer.concat([Buffer.from(r.signatures.replace(/\r?\n/g, '\r\n'), 'utf8'), body]);
}

/** The domain of the (first) From: field's address, lower case; null: no From or no domain. */
export function authorDomain(body: Buffer): string | null {
  const end = body.indexOf('\r\n\r\n');
  const head = body.subarray(0, end < 0 ? body.length : end).toString('latin1').replace(/\r?\n[ \t]+/g, ' ');
  const m = /^from[ \t]*:(.*)$/im.exec(head);
  if (m === null) return null;
  const value = m[1]!.replace(/"(?:[^"\\]|\\.)*"/g, '""').replace(/\([^)]*\)/g, ' ');
  const angle = /<([^>]*)>/.exec(value);
  const addr = (angle !== null ? angle[1]! : value.split(',')[0]!).trim();
  const at = addr.lastIndexOf('@');
  const domain = at < 0 ? '' : addr.slice(at + 1).trim().toLowerCase().replace(/\.$/, '');
  return /^[a-z0-9.-]+$/.test(domain) ? domain : null;
}
