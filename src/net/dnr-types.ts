/**
 * net/dnr-types.ts: the server's resolver (seed DNR, inventory §3), as every service sees it.
 * Implemented by net/dnr.ts (a Server-level `dnr` block: ordered name servers with priorities,
 * falling back to the OS's; timeout, retries, a per-type answer cache honouring TTLs). Real DNS:
 * UDP, TCP on truncation. Types only.
 *
 * Errors: a name that does not exist resolves to [] (NXDOMAIN/NODATA are answers, cached for
 * `negativeCacheTtl`: Node's resolver does not give the SOA minimum); a server failure or timeout rejects with DNR_TEMP (a temporary failure:
 * mail is retried), a malformed name with DNR_BAD_NAME.
 */
export interface MxRecord {
  exchange: string; // lower case, no trailing dot; '' for a null MX (RFC 7505: "0 .")
  priority: number;
}

export interface Dnr {
  a(name: string): Promise<string[]>;
  aaaa(name: string): Promise<string[]>;
  mx(name: string): Promise<MxRecord[]>;
  /** TXT records, each one string (its chunks joined). */
  txt(name: string): Promise<string[]>;
  ptr(ip: string): Promise<string[]>;
  /** The seed's QUERY (`ctl dnr query TYPE NAME`): the answers as text lines. */
  query(type: 'A' | 'AAAA' | 'MX' | 'TXT' | 'PTR', name: string): Promise<string[]>;
  /** The seed's EMPTYCACHE. */
  flush(): void;
  /** A resolver in the shape mailauth and dns.promises.resolve take: (name, rrtype) → records. */
  resolver(): (name: string, rrtype: string) => Promise<unknown>;
}
