/**
 * net/hostname.ts: this machine's fully qualified name, the default of the Server-level
 * `hostname` (greetings, EHLO, `Received:`, Message-IDs, DSNs).
 *
 * `os.hostname()` is often a short name (`vm`). `learnSystemHostname()` tries, once per
 * process and within a bounded time, what `hostname -f` does: look the short name up
 * (getaddrinfo, addresses this host can use) and ask the resolver for that address's name
 * (getnameinfo: /etc/hosts, then DNS); a name with a dot wins, else the short name stays.
 * `systemHostname()` answers at once with what was learnt so far (the short name, or
 * `localhost` when the OS has none), so config resolution never waits.
 *
 * Exports: `learnSystemHostname(timeoutMs?)`, `systemHostname()`, `HOSTNAME_RE`.
 * Throws nothing.
 */
import dns from 'node:dns/promises';
import { ADDRCONFIG } from 'node:dns';
import os from 'node:os';

/** A host name as RFC 1123 writes it: dot-separated labels of letters, digits and hyphens. */
export const HOSTNAME_RE = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/i;

let learnt: string | null = null;
let learning: Promise<string> | null = null;

function shortName(): string {
  const h = os.hostname().toLowerCase();
  return HOSTNAME_RE.test(h) ? h : 'localhost';
}

export function systemHostname(): string {
  return learnt ?? shortName();
}

async function lookupFqdn(short: string): Promise<string | null> {
  const addrs = await dns.lookup(short, { all: true, hints: ADDRCONFIG });
  for (const a of addrs) {
    const { hostname } = await dns.lookupService(a.address, 0).catch(() => ({ hostname: '' }));
    const h = hostname.toLowerCase().replace(/\.$/, '');
    if (h.includes('.') && HOSTNAME_RE.test(h) && h !== 'localhost.localdomain') return h;
  }
  return null;
}

/** Learn the fully qualified name (at most `timeoutMs`); resolves with `systemHostname()`. */
export function learnSystemHostname(timeoutMs = 2000): Promise<string> {
  learning ??= (async () => {
    const short = shortName();
    if (short.includes('.') || short === 'localhost') return (learnt = short);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<null>((r) => (timer = setTimeout(() => r(null), timeoutMs).unref()));
    const found = await Promise.race([lookupFqdn(short).catch(() => null), timeout]);
    clearTimeout(timer);
    return (learnt = found ?? short);
  })();
  return learning;
}
