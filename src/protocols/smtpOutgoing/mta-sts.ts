/**
 * protocols/smtpOutgoing/mta-sts.ts: MTA-STS (RFC 8461). For a recipient domain: its
 * `_mta-sts.<domain>` TXT record (`v=STSv1; id=…`) through the server's resolver; when the id
 * is new (or nothing is cached), the policy is fetched over HTTPS from
 * `https://mta-sts.<domain>/.well-known/mta-sts.txt` (certificate checked against the name
 * `mta-sts.<domain>`, no redirects, at most 64 KiB, bounded by a timeout) and cached by domain
 * until its `max_age` passes (at most one year). No TXT record and no cached policy: no policy.
 * A fetch that fails keeps a cached policy still in date; else no policy (RFC 8461 §5).
 *
 * `policyAddress` (option `mtaStsPolicyAddress`, for tests): fetch from that `host:port`
 * instead of `mta-sts.<domain>:443` (the certificate is still checked against
 * `mta-sts.<domain>`, with `ca` trusted besides Node's roots).
 *
 * Exports: `MtaSts` (`policy(domain)`, `mxAllowed(policy, host)`), `parsePolicy(text)`,
 * `StsPolicy`. Throws nothing (`policy` resolves null when there is none or it cannot be had).
 */
import https from 'node:https';
import tls from 'node:tls';
import type { Dnr } from '../../net/dnr-types.ts';

export interface StsPolicy {
  id: string;
  mode: 'enforce' | 'testing' | 'none';
  mx: string[];
  maxAgeS: number;
  expires: number; // ms
}

const MAX_POLICY_BYTES = 64 * 1024;
const MAX_AGE_S = 31_557_600;

/** A policy file's fields (RFC 8461 §3.2); null when it is not a valid STSv1 policy. */
export function parsePolicy(text: string): Omit<StsPolicy, 'id' | 'expires'> | null {
  const fields = new Map<string, string[]>();
  for (const line of text.split(/\r?\n/)) {
    const m = /^([A-Za-z0-9_]+)\s*:\s*(.*?)\s*$/.exec(line);
    if (m === null) continue;
    const k = m[1]!.toLowerCase();
    fields.set(k, [...(fields.get(k) ?? []), m[2]!]);
  }
  const mode = fields.get('mode')?.[0];
  const maxAge = Number(fields.get('max_age')?.[0]);
  if (fields.get('version')?.[0] !== 'STSv1' || (mode !== 'enforce' && mode !== 'testing' && mode !== 'none') || !Number.isInteger(maxAge) || maxAge < 0) return null;
  const mx = (fields.get('mx') ?? []).map((m) => m.toLowerCase().replace(/\.$/, ''));
  if (mode !== 'none' && mx.length === 0) return null;
  return { mode, mx, maxAgeS: Math.min(maxAge, MAX_AGE_S) };
}

/** The TXT record's id (`v=STSv1; id=20160831085700Z;`), or null. */
function txtId(records: string[]): string | null {
  const sts = records.filter((r) => /^v=STSv1\s*(;|$)/.test(r.trim()));
  if (sts.length !== 1) return null; // RFC 8461 §3.1: more than one: as if none
  const m = /(?:^|;)\s*id=([A-Za-z0-9]{1,32})\s*(;|$)/.exec(sts[0]!);
  return m === null ? null : m[1]!;
}

export interface MtaStsOptions {
  /** `host:port` to fetch from instead of `mta-sts.<domain>:443` ('' : none). */
  policyAddress: string;
  /** PEM CAs trusted besides Node's roots. */
  ca: string | null;
  timeoutMs: number;
}

export class MtaSts {
  private readonly cache = new Map<string, StsPolicy>();
  private readonly dnr: Dnr;
  private readonly o: MtaStsOptions;

  constructor(dnr: Dnr, o: MtaStsOptions) {
    this.dnr = dnr;
    this.o = o;
  }

  /** The policy in force for `domain`, or null. */
  async policy(domain: string, now = Date.now()): Promise<StsPolicy | null> {
    let cached = this.cache.get(domain) ?? null;
    if (cached !== null && cached.expires <= now) {
      this.cache.delete(domain);
      cached = null;
    }
    let id: string | null;
    try {
      id = txtId(await this.dnr.txt(`_mta-sts.${domain}`));
    } catch {
      return cached; // DNS trouble: the cached policy, if any
    }
    if (id === null) return cached;
    if (cached !== null && cached.id === id) return cached;
    const text = await this.fetch(domain).catch(() => null);
    const parsed = text === null ? null : parsePolicy(text);
    if (parsed === null) return cached;
    const p: StsPolicy = { ...parsed, id, expires: now + parsed.maxAgeS * 1000 };
    this.cache.set(domain, p);
    return p;
  }

  /** An MX host name is allowed by the policy's `mx` patterns (`*.example.com`: one label). */
  static mxAllowed(p: StsPolicy, host: string): boolean {
    const h = host.toLowerCase().replace(/\.$/, '');
    return p.mx.some((m) => {
      if (!m.startsWith('*.')) return m === h;
      const label = h.endsWith(m.slice(1)) ? h.slice(0, h.length - m.length + 1) : '';
      return label !== '' && !label.includes('.');
    });
  }

  private fetch(domain: string): Promise<string> {
    const name = `mta-sts.${domain}`;
    let host = name;
    let port = 443;
    if (this.o.policyAddress !== '') {
      const i = this.o.policyAddress.lastIndexOf(':');
      host = this.o.policyAddress.slice(0, i).replace(/^\[|\]$/g, '');
      port = Number(this.o.policyAddress.slice(i + 1));
    }
    return new Promise((resolve, reject) => {
      const req = https.get({
        host, port, path: '/.well-known/mta-sts.txt', servername: name, headers: { host: name },
        ca: this.o.ca !== null ? [...tls.rootCertificates, this.o.ca] : undefined, rejectUnauthorized: true, timeout: this.o.timeoutMs, agent: false,
      }, (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          reject(new Error(`policy fetch: HTTP ${res.statusCode}`));
          return;
        }
        const parts: Buffer[] = [];
        let n = 0;
        res.on('data', (b: Buffer) => {
          n += b.length;
          if (n > MAX_POLICY_BYTES) req.destroy(new Error('policy too large'));
          else parts.push(b);
        });
        res.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error('policy fetch timed out')));
      req.on('error', reject);
    });
  }
}
