/**
 * protocols/smtpOutgoing/targets.ts: the hosts one destination's connections try, in order,
 * with the TLS each must have: by MX (mx.ts; with an MTA-STS policy in `enforce` mode only the
 * hosts it lists, with verified TLS; in `testing` mode the policy is only logged) or the
 * route's smart host (its name resolved through the resolver unless it is an address).
 *
 * Exports: `targetsFor(dest, requireTls, deps)`, `TargetsResult`, `TargetDeps`. Throws nothing.
 */
import net from 'node:net';
import type { Dnr } from '../../net/dnr-types.ts';
import type { SmtpOutgoingOptions } from '../../config/options.ts';
import type { Destination } from './route.ts';
import type { Target } from './deliver.ts';
import { resolveHosts } from './mx.ts';
import { MtaSts } from './mta-sts.ts';
import { tlsDemand } from './tls-policy.ts';

export type TargetsResult = { ok: true; targets: Target[] } | { ok: false; status: 'failed' | 'temp'; status3464: string; why: string };

export interface TargetDeps {
  dnr: Dnr;
  opts: SmtpOutgoingOptions;
  sts: MtaSts | null;
  ca: string | null;
}

export async function targetsFor(dest: Destination, requireTls: boolean, d: TargetDeps): Promise<TargetsResult> {
  const o = d.opts;
  const base = { heloName: o.heloName, connectTimeoutMs: o.connectTimeoutMs, rwTimeoutMs: o.rwTimeoutMs, ca: d.ca };
  const h = dest.smartHost;
  if (h !== null) {
    let addrs: string[];
    if (net.isIP(h.host) !== 0) addrs = [h.host];
    else {
      try {
        const [four, six] = await Promise.all([d.dnr.a(h.host), o.enableIPv6 ? d.dnr.aaaa(h.host) : Promise.resolve([] as string[])]);
        addrs = [...six, ...four];
      } catch (e) {
        return { ok: false, status: 'temp', status3464: '4.4.3', why: `451 4.4.3 lookup of smart host ${h.host} failed: ${e instanceof Error ? e.message : String(e)}` };
      }
      if (addrs.length === 0) return { ok: false, status: 'temp', status3464: '4.4.3', why: `451 4.4.3 smart host ${h.host} has no address` };
    }
    const tls = tlsDemand(dest, { stsEnforce: false, requireTlsMessage: requireTls });
    const auth = h.authUser !== null ? { user: h.authUser, pass: h.authPassword ?? '', method: h.authMethod } : null;
    return { ok: true, targets: addrs.map((ip) => ({ ip, port: h.port, name: h.host, tls, auth, ...base })) };
  }
  const hosts = await resolveHosts(d.dnr, dest.domain, { enableIPv6: o.enableIPv6, port: o.mxPort, localSmtp: o.localSmtp });
  if (!hosts.ok) return hosts;
  const policy = d.sts !== null ? await d.sts.policy(dest.domain) : null;
  const enforce = policy?.mode === 'enforce';
  const allowed = enforce ? hosts.hosts.filter((x) => MtaSts.mxAllowed(policy!, x.name)) : hosts.hosts;
  if (allowed.length === 0) return { ok: false, status: 'temp', status3464: '4.7.5', why: `451 4.7.5 no MX of ${dest.domain} is allowed by its MTA-STS policy` };
  const tls = tlsDemand(dest, { stsEnforce: enforce, requireTlsMessage: requireTls });
  return { ok: true, targets: allowed.flatMap((x) => x.addrs.map((ip) => ({ ip, port: o.mxPort, name: x.name, tls, auth: null, ...base }))) };
}
