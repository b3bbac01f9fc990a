/**
 * protocols/smtpOutgoing/mx.ts: where mail for a domain goes, as RFC 5321 §5.1 says: the MX
 * records in preference order (equal preferences shuffled), or the domain's own A/AAAA records
 * when it has no MX (the implicit MX); a null MX (RFC 7505, `0 .`) is an immediate permanent
 * failure (5.1.10); AAAA only with `enableIPv6` (tried first when on). If this server is itself
 * one of the MX hosts (an address and port of smtpIncoming's listeners), that host and every
 * host of an equal or worse preference are dropped; nothing left is a mail loop (5.4.6).
 * A DNS failure (DNR_TEMP) is temporary (4.4.3); a domain with neither MX nor address is
 * permanent (5.1.2).
 *
 * Exports: `resolveHosts(dnr, domain, opts)`, `MxHost`, `HostsResult`, `isLocalAddress(ip)`,
 * `loopsBack(ip, port, localSmtp)`, `shuffleEqual(records, random)`. Throws nothing (failures are
 * results).
 */
import os from 'node:os';
import type { Dnr, MxRecord } from '../../net/dnr-types.ts';

export interface MxHost {
  /** The MX host name (or the domain itself for an implicit MX). */
  name: string;
  priority: number;
  /** Its addresses, in the order to try. */
  addrs: string[];
}

export type HostsResult =
  | { ok: true; hosts: MxHost[] }
  | { ok: false; status: 'failed' | 'temp'; status3464: string; why: string };

export interface ResolveOptions {
  enableIPv6: boolean;
  /** The port MX hosts are reached on (25). */
  port: number;
  /** smtpIncoming's listeners, `host:port`. */
  localSmtp: readonly string[];
  random?: () => number;
}

/** Sorted by preference; equal preferences in random order (RFC 5321 §5.1). */
export function shuffleEqual(records: readonly MxRecord[], random: () => number = Math.random): MxRecord[] {
  const keyed = records.map((r) => ({ r, k: random() }));
  keyed.sort((a, b) => a.r.priority - b.r.priority || a.k - b.k);
  return keyed.map((x) => x.r);
}

const norm = (ip: string): string => ip.toLowerCase().replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/, '$1');

/** An address of this machine (an interface's, or loopback). */
export function isLocalAddress(ip: string): boolean {
  const a = norm(ip);
  if (a.startsWith('127.') || a === '::1') return true;
  for (const list of Object.values(os.networkInterfaces())) {
    for (const i of list ?? []) if (norm(i.address) === a) return true;
  }
  return false;
}

/** `ip:port` is one of smtpIncoming's listeners (a wildcard listener: any local address). */
export function loopsBack(ip: string, port: number, localSmtp: readonly string[]): boolean {
  const a = norm(ip);
  return localSmtp.some((l) => {
    const i = l.lastIndexOf(':');
    const host = norm(l.slice(0, i).replace(/^\[|\]$/g, ''));
    if (Number(l.slice(i + 1)) !== port) return false;
    if (host === '0.0.0.0' || host === '::') return isLocalAddress(a);
    return host === a;
  });
}

async function addresses(dnr: Dnr, name: string, v6: boolean): Promise<string[]> {
  const [four, six] = await Promise.all([dnr.a(name), v6 ? dnr.aaaa(name) : Promise.resolve([] as string[])]);
  return [...six, ...four];
}

const temp = (why: string): HostsResult => ({ ok: false, status: 'temp', status3464: '4.4.3', why });

export async function resolveHosts(dnr: Dnr, domain: string, o: ResolveOptions): Promise<HostsResult> {
  let mx: MxRecord[];
  try {
    mx = await dnr.mx(domain);
  } catch (e) {
    return temp(`451 4.4.3 MX lookup for ${domain} failed: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (mx.some((r) => r.exchange === '' || r.exchange === '.')) {
    return { ok: false, status: 'failed', status3464: '5.1.10', why: `550 5.1.10 ${domain} does not accept mail (null MX)` };
  }
  const records = mx.length > 0 ? shuffleEqual(mx, o.random) : [{ exchange: domain, priority: 0 }];
  const settled = await Promise.allSettled(records.map((r) => addresses(dnr, r.exchange, o.enableIPv6)));
  let hosts: MxHost[] = [];
  let failures = 0;
  settled.forEach((s, i) => {
    if (s.status === 'rejected') failures++;
    else if (s.value.length > 0) hosts.push({ name: records[i]!.exchange, priority: records[i]!.priority, addrs: s.value });
  });
  // RFC 5321 §5.1: if we are one of the MX hosts, only better ones may be tried
  const self = hosts.filter((h) => h.addrs.some((a) => loopsBack(a, o.port, o.localSmtp)));
  if (self.length > 0) {
    const best = Math.min(...self.map((h) => h.priority));
    hosts = hosts.filter((h) => h.priority < best);
    if (hosts.length === 0) return { ok: false, status: 'failed', status3464: '5.4.6', why: `554 5.4.6 mail loop: the MX of ${domain} points back at this server` };
  }
  if (hosts.length > 0) return { ok: true, hosts };
  if (failures > 0) return temp(`451 4.4.3 address lookup for the mail hosts of ${domain} failed`);
  return { ok: false, status: 'failed', status3464: '5.1.2', why: mx.length > 0 ? `550 5.1.2 the mail hosts of ${domain} have no address` : `550 5.1.2 ${domain} has no MX and no address` };
}
