/**
 * net/tls.ts: TLS for listeners, from the seed's SSL parameters (allowed versions, certificate
 * and key files, CA file, max chain verification depth, request client certificate, cipher
 * suite). Used for implicit-TLS listeners (`sslEnable`) and for STARTTLS/STLS upgrades.
 *
 * Exports: `secureContextFor(listener)` (cached per listener key and options),
 * `wrapServerSocket(socket, listener)`, `tlsProblems(listener)` and `checkTlsFiles(config,
 * source)` (what `config check`, start and reload refuse: implicit TLS without a certificate, a
 * file that cannot be read, a key that does not match its certificate, each named by its
 * attribute path). Throws CONFIG_READ when a file cannot be read, CONFIG_TLS from
 * checkTlsFiles.
 */
import fs from 'node:fs';
import tls from 'node:tls';
import type { Socket } from 'node:net';
import { PosternError } from '../errors.ts';
import type { ResolvedConfig, TcpListenerOptions } from '../config/options.ts';

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

/** The context options of a listener's sslControl; CONFIG_MISSING / CONFIG_READ name the
 * attribute (`details.attr`) at fault. */
function contextOptions(l: TcpListenerOptions): tls.SecureContextOptions {
  if (l.ssl.certFile === null) throw new PosternError('CONFIG_MISSING', `listener ${l.key}: TLS needs sslControl.certFile`, { attr: 'sslControl.certFile' });
  const enabled = ORDER.filter((v) => l.ssl.allowedVersions.includes(v));
  const at = (attr: string, f: () => Buffer): Buffer => {
    try {
      return f();
    } catch (e) {
      throw new PosternError('CONFIG_READ', (e as Error).message, { attr });
    }
  };
  const cert = at('sslControl.certFile', () => read(l.ssl.certFile!, 'certificate file'));
  const o: tls.SecureContextOptions = {
    cert,
    key: l.ssl.keyFile !== null ? at('sslControl.keyFile', () => read(l.ssl.keyFile!, 'key file')) : cert,
    minVersion: VERSION[enabled[0] ?? 'tls1_2'],
    maxVersion: VERSION[enabled[enabled.length - 1] ?? 'tls1_3'],
  };
  if (l.ssl.caFile !== null) o.ca = at('sslControl.caFile', () => read(l.ssl.caFile!, 'CA file'));
  if (l.ssl.cipherSuite !== null) o.ciphers = l.ssl.cipherSuite;
  if (enabled.includes('tls1') || enabled.includes('tls1_1')) o.ciphers = `${o.ciphers ?? 'DEFAULT'}:@SECLEVEL=0`;
  return o;
}

/** What keeps a listener's TLS from working, by attribute (relative to the listener): none
 * when it neither enables implicit TLS nor names a certificate (STARTTLS uses it too). The
 * files are loaded as a handshake would load them (tls.createSecureContext). */
export function tlsProblems(l: TcpListenerOptions): Array<{ attr: string; message: string }> {
  if (!l.enable || (!l.sslEnable && l.ssl.certFile === null)) return [];
  if (l.ssl.certFile === null) return [{ attr: 'sslEnable', message: 'sslEnable = yes needs a certificate: set sslControl.certFile (and keyFile)' }];
  try {
    tls.createSecureContext(contextOptions(l));
    return [];
  } catch (e) {
    const attr = (e as PosternError).details?.attr;
    if (typeof attr === 'string') return [{ attr, message: (e as Error).message }];
    const why = (e as Error).message;
    const keyAttr = l.ssl.keyFile !== null ? 'sslControl.keyFile' : 'sslControl.certFile';
    if (/key values mismatch/i.test(why)) return [{ attr: keyAttr, message: `the key does not match the certificate ${l.ssl.certFile} (${why})` }];
    if (/cipher/i.test(why)) return [{ attr: 'sslControl.cipherSuite', message: why }];
    return [{ attr: /key/i.test(why) ? keyAttr : 'sslControl.certFile', message: `cannot load: ${why}` }];
  }
}

/** Check the TLS files of every listener of the services `config` runs; throws CONFIG_TLS
 * listing each problem once, one a line (`<source>: Server.<service>.listeners[i].<attr>: …`),
 * with `details.errors` ({ path, message } each). */
export function checkTlsFiles(config: ResolvedConfig, source: string): void {
  const errors: Array<{ path: string; message: string }> = [];
  for (const name of config.services) {
    config.serviceOptions[name].listeners.forEach((l, i) => {
      for (const p of tlsProblems(l)) {
        const path = `Server.${name}.listeners[${i}].${p.attr}`;
        errors.push({ path, message: `${source}: ${path}: ${p.message}` });
      }
    });
  }
  if (errors.length > 0) throw new PosternError('CONFIG_TLS', errors.map((e) => e.message).join('\n'), { path: errors[0]!.path, errors });
}

export function secureContextFor(l: TcpListenerOptions): { ctx: tls.SecureContext; opts: tls.TlsOptions } {
  const sig = JSON.stringify(l.ssl);
  const hit = cache.get(l.key);
  if (hit !== undefined && hit.sig === sig) return hit;
  const o = contextOptions(l);
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
