/**
 * protocols/smtpOutgoing/sys-dnr.ts: a plain resolver in the `Dnr` shape over node:dns, used
 * until the server's own resolver (net/dnr.ts, the Server `dnr` block) is wired in: the given
 * name servers (`host:port`), else the OS's. NXDOMAIN/NODATA resolve to []; other failures
 * reject (a temporary failure).
 *
 * Exports: `systemDnr(servers?, timeoutMs?)`. Throws nothing.
 */
import dns from 'node:dns';
import type { Dnr, MxRecord } from '../../net/dnr-types.ts';

export function systemDnr(servers: readonly string[] = [], timeoutMs = 5000): Dnr {
  const r = new dns.promises.Resolver({ timeout: timeoutMs, tries: 2 });
  if (servers.length > 0) r.setServers([...servers]);
  const none = async <T>(p: Promise<T[]>): Promise<T[]> => {
    try {
      return await p;
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code === 'ENOTFOUND' || code === 'ENODATA') return [];
      throw new Error(`DNS lookup of ${code ?? String(e)} failed`, { cause: e });
    }
  };
  const mx = async (name: string): Promise<MxRecord[]> => (await none(r.resolveMx(name))).map((m) => ({ exchange: m.exchange.toLowerCase().replace(/\.$/, ''), priority: m.priority }));
  return {
    a: (name) => none(r.resolve4(name)),
    aaaa: (name) => none(r.resolve6(name)),
    mx,
    txt: async (name) => (await none(r.resolveTxt(name))).map((c) => c.join('')),
    ptr: (ip) => none(r.reverse(ip)),
    query: async (type, name) => {
      if (type === 'MX') return (await mx(name)).map((m) => `${m.priority} ${m.exchange}`);
      if (type === 'TXT') return (await none(r.resolveTxt(name))).map((c) => c.join(''));
      if (type === 'PTR') return none(r.reverse(name));
      return none(type === 'A' ? r.resolve4(name) : r.resolve6(name));
    },
    flush: () => {},
    resolver: () => (name, rrtype) => r.resolve(name, rrtype),
  };
}
