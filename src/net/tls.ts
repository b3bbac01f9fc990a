/**
 * net/tls.ts: TLS for listeners, from the seed's SSL parameters (allowed versions, certificate
 * and key files, CA file, max chain verification depth, request client certificate, cipher
 * suite). Used for implicit-TLS listeners (`sslEnable`) and for STARTTLS/STLS upgrades.
 *
 * Exports: `secureContextFor(listener)` (cached per listener key and options),
 * `wrapServerSocket(socket, listener)`. Throws CONFIG_READ when a file cannot be read.
 */
import fs from 'node:fs';
import tls from 'node:tls';
import type { Socket } from 'node:net';
import { PosternError } from '../errors.ts';
import type { TcpListenerOptions } from '../config/options.ts';

const VERSION = { tls1: 'TLSv1', tls1_1: 'TLSv1.1', tls1_2: 'TLSv1.2', tls1_3: 'TLSv1.3' } as const;
const ORDER = ['tls1', 'tls1_1', 'tls1_2', 'tls1_3'] as const;

const cache = new Map<string, { sig: string; ctx: tls.SecureContext; opts: tls.TlsOptions }>();

function read(file: string, what: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (e) {
    throw new PosternError('CONFIG_READ', `cannot read the ${what} ${file}: ${(e as Error).message}`);
  }
}

/** Whether the listener has what a TLS handshake needs. */
export function tlsConfigured(l: TcpListenerOptions): boolean {
  return l.ssl.certFile !== null;
}

export function secureContextFor(l: TcpListenerOptions): { ctx: tls.SecureContext; opts: tls.TlsOptions } {
  const sig = JSON.stringify(l.ssl);
  const hit = cache.get(l.key);
  if (hit !== undefined && hit.sig === sig) return hit;
  if (l.ssl.certFile === null) throw new PosternError('CONFIG_MISSING', `listener ${l.key}: TLS needs sslControl.certFile`);
  const enabled = ORDER.filter((v) => l.ssl.allowedVersions.includes(v));
  const cert = read(l.ssl.certFile, 'certificate file');
  const o: tls.SecureContextOptions = {
    cert,
    key: l.ssl.keyFile !== null ? read(l.ssl.keyFile, 'key file') : cert,
    minVersion: VERSION[enabled[0] ?? 'tls1_2'],
    maxVersion: VERSION[enabled[enabled.length - 1] ?? 'tls1_3'],
  };
  if (l.ssl.caFile !== null) o.ca = read(l.ssl.caFile, 'CA file');
  if (l.ssl.cipherSuite !== null) o.ciphers = l.ssl.cipherSuite;
  if (enabled.includes('tls1') || enabled.includes('tls1_1')) o.ciphers = `${o.ciphers ?? 'DEFAULT'}:@SECLEVEL=0`;
  const ctx = tls.createSecureContext(o);
  const opts: tls.TlsOptions = { ...o, requestCert: l.ssl.requestClientAuth, rejectUnauthorized: false };
  const entry = { sig, ctx, opts };
  cache.set(l.key, entry);
  return entry;
}

/** Start a server-side TLS handshake on an accepted (or upgraded) plain socket. */
export function wrapServerSocket(socket: Socket, l: TcpListenerOptions): tls.TLSSocket {
  const { ctx } = secureContextFor(l);
  const t = new tls.TLSSocket(socket, {
    isServer: true,
    secureContext: ctx,
    requestCert: l.ssl.requestClientAuth,
    rejectUnauthorized: false,
  });
  // the chain depth check (seed: max chain verification depth) applies to client certificates
  t.once('secure', () => {
    if (!l.ssl.requestClientAuth) return;
    let depth = 0;
    let c = t.getPeerCertificate(true) as tls.DetailedPeerCertificate | undefined;
    while (c !== undefined && c.issuerCertificate !== undefined && c.issuerCertificate !== c && depth <= l.ssl.maxChainDepth) {
      c = c.issuerCertificate;
      depth++;
    }
    if (depth > l.ssl.maxChainDepth) t.destroy(new Error('client certificate chain too deep'));
  });
  return t;
}
