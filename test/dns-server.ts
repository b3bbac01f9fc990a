/**
 * test/dns-server.ts: a real DNS server on loopback for the tests: Debian's dnsmasq, run in the
 * foreground from a config file of its own in a temp dir (no /etc/hosts, no /etc/resolv.conf, no
 * DHCP, no upstream), serving the records a test gives and answering NXDOMAIN/NODATA for every
 * other name (`local=/#/`), so nothing leaves the machine.
 *
 * Exports:
 * - `startDnsServer(records, o?)` → `DnsServer` { host, port, server ('host:port', for
 *   `Resolver.setServers` or a `dnr.nameServers` address), setRecords(records), stop() }.
 *   A/AAAA go to an addn-hosts file (several addresses per name allowed; dnsmasq answers the
 *   PTR of each address from it too), MX with `mx-host=`, TXT with `txt-record=` (each string one
 *   record, split into 255-byte chunks), a null MX (RFC 7505, "0 .") with `mx-host=NAME,.,0`
 *   (dnsmasq 2.90 serves it: exchange '' priority 0), extra PTRs with `ptr-record=`.
 *   `ttl` (seconds, default 300) is the TTL of every answer (`local-ttl`, also `neg-ttl`).
 *   setRecords restarts dnsmasq on the same address and port (TXT/MX are not re-read on SIGHUP).
 *   Ready means a real query answered (polled, bounded at 10 s), never a fixed sleep.
 * - `startSilentDnsServer(host?)`: a UDP socket that reads queries and never answers (a name
 *   server that times out); { server, queries (count), stop() }.
 * - `startFailingDnsServer(rcode?, host?)`: a UDP socket that answers every query with an empty
 *   reply carrying `rcode` (default 2, SERVFAIL; dnsmasq itself has no way to say SERVFAIL: a
 *   name forwarded to a dead upstream just times out); { server, queries (count), stop() }.
 * - `deadDnsServer(host?)`: 'host:port' of a UDP port nobody listens on (refused at once).
 *
 * Throws: startDnsServer rejects when dnsmasq is missing, exits, or does not answer in time
 * (with its stderr in the message).
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import dns from 'node:dns';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { tmpDir } from './helpers.ts';

export interface DnsRecords {
  a?: Record<string, string[]>;
  aaaa?: Record<string, string[]>;
  mx?: Record<string, Array<{ exchange: string; priority: number }>>;
  /** Each string is one TXT record (long ones are split into 255-byte chunks). */
  txt?: Record<string, string[]>;
  /** Names with a null MX (RFC 7505). */
  nullMx?: string[];
  /** Extra PTR records: IP address → name (addresses in `a`/`aaaa` already have one). */
  ptr?: Record<string, string>;
}

export interface DnsServerOptions {
  /** Listen address on loopback (default 127.0.0.53). */
  host?: string;
  /** TTL of every answer and of negative answers, seconds (default 300). */
  ttl?: number;
}

export interface DnsServer {
  host: string;
  port: number;
  /** 'host:port' */
  server: string;
  setRecords(records: DnsRecords, o?: { ttl?: number }): Promise<void>;
  stop(): Promise<void>;
}

const READY_MS = 10_000;

function quoteTxt(s: string): string {
  if (/["\\\r\n]/.test(s)) throw new Error(`dns-server: TXT with a quote, backslash or newline is not supported: ${s}`);
  const buf = Buffer.from(s, 'utf8');
  const chunks: string[] = [];
  for (let i = 0; i < buf.length || i === 0; i += 255) chunks.push(`"${buf.subarray(i, i + 255).toString('utf8')}"`);
  return chunks.join(',');
}

function reverseName(ip: string): string {
  if (net.isIPv4(ip)) return `${ip.split('.').reverse().join('.')}.in-addr.arpa`;
  // expand IPv6 to 32 nibbles
  const [head, tail] = ip.includes('::') ? ip.split('::') : [ip, ''];
  const h = head === '' ? [] : head.split(':');
  const t = tail === '' ? [] : tail.split(':');
  const groups = [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  const nibbles = groups.map((g) => g.padStart(4, '0')).join('');
  return `${[...nibbles].reverse().join('.')}.ip6.arpa`;
}

function checkName(n: string): string {
  if (!/^[A-Za-z0-9._-]+$/.test(n)) throw new Error(`dns-server: bad name ${n}`);
  return n.replace(/\.$/, '');
}

function writeConfig(dir: string, host: string, port: number, records: DnsRecords, ttl: number): string {
  const hostsLines: string[] = [];
  for (const [name, ips] of Object.entries({ ...records.a })) for (const ip of ips) hostsLines.push(`${ip} ${checkName(name)}`);
  for (const [name, ips] of Object.entries({ ...records.aaaa })) for (const ip of ips) hostsLines.push(`${ip} ${checkName(name)}`);
  const hostsFile = path.join(dir, 'hosts');
  fs.writeFileSync(hostsFile, hostsLines.join('\n') + '\n');
  const lines = [
    `port=${port}`,
    `listen-address=${host}`,
    'bind-interfaces',
    'no-resolv',
    'no-hosts',
    'no-poll',
    'keep-in-foreground',
    'log-facility=-',
    `pid-file=${path.join(dir, 'dnsmasq.pid')}`,
    `addn-hosts=${hostsFile}`,
    `local-ttl=${ttl}`,
    `neg-ttl=${ttl}`,
    'cache-size=0',
    'local=/#/',
  ];
  if (process.getuid?.() === 0) lines.push('user=root', 'group=root');
  for (const [name, list] of Object.entries({ ...records.mx })) {
    for (const m of list) lines.push(`mx-host=${checkName(name)},${checkName(m.exchange)},${m.priority}`);
  }
  for (const name of records.nullMx ?? []) lines.push(`mx-host=${checkName(name)},.,0`);
  for (const [name, list] of Object.entries({ ...records.txt })) {
    for (const s of list) lines.push(`txt-record=${checkName(name)},${quoteTxt(s)}`);
  }
  for (const [ip, name] of Object.entries({ ...records.ptr })) {
    if (net.isIP(ip) === 0) throw new Error(`dns-server: bad PTR address ${ip}`);
    lines.push(`ptr-record=${reverseName(ip)},${checkName(name)}`);
  }
  const conf = path.join(dir, 'dnsmasq.conf');
  fs.writeFileSync(conf, lines.join('\n') + '\n');
  return conf;
}

/** A UDP port on `host` that is free now (dnsmasq also takes TCP on it; a clash is retried). */
function freeUdpPort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
    s.once('error', reject);
    s.bind(0, host, () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
}

/** One query with a short bound; true once dnsmasq answers anything (even NXDOMAIN). */
async function answers(server: string): Promise<boolean> {
  const r = new dns.promises.Resolver({ timeout: 200, tries: 1 });
  r.setServers([server]);
  try {
    await r.resolve4('postern-fixture-probe.invalid');
    return true;
  } catch (e) {
    const code = (e as { code?: string }).code;
    return code === 'ENOTFOUND' || code === 'ENODATA';
  }
}

interface Running { child: ChildProcess; exited: Promise<void>; stderr: () => string }

function launch(conf: string): Running {
  const child = spawn('dnsmasq', [`--conf-file=${conf}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (d: string) => { if (err.length < 16_384) err += d; });
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', (e) => { err += String(e); resolve(); });
  });
  return { child, exited, stderr: () => err };
}

async function waitReady(run: Running, server: string): Promise<void> {
  let dead = false;
  void run.exited.then(() => { dead = true; });
  const until = Date.now() + READY_MS;
  while (!dead) {
    if (await answers(server)) return;
    if (Date.now() > until) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  await stopRun(run);
  throw new Error(`dns-server: dnsmasq ${dead ? 'exited' : 'did not answer'} on ${server}: ${run.stderr().trim()}`);
}

async function stopRun(run: Running): Promise<void> {
  if (run.child.exitCode === null && run.child.signalCode === null) {
    run.child.kill('SIGTERM');
    const t = setTimeout(() => run.child.kill('SIGKILL'), 3000);
    await run.exited;
    clearTimeout(t);
  }
}

export async function startDnsServer(records: DnsRecords, o: DnsServerOptions = {}): Promise<DnsServer> {
  const host = o.host ?? '127.0.0.53';
  let ttl = o.ttl ?? 300;
  const dir = tmpDir('postern-dns-');
  let port = 0;
  let run: Running | undefined;
  let lastErr: unknown;
  for (let attempt = 0; attempt < 5 && run === undefined; attempt++) {
    port = await freeUdpPort(host);
    const r = launch(writeConfig(dir, host, port, records, ttl));
    try {
      await waitReady(r, `${host}:${port}`);
      run = r;
    } catch (e) {
      lastErr = e;
      if (!/in use/i.test(String(e))) break; // only a port clash is worth another port
    }
  }
  if (run === undefined) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw lastErr;
  }
  const server = `${host}:${port}`;
  let current: Running | undefined = run;
  return {
    host, port, server,
    async setRecords(next: DnsRecords, so: { ttl?: number } = {}) {
      ttl = so.ttl ?? ttl;
      if (current !== undefined) await stopRun(current);
      current = undefined;
      const r = launch(writeConfig(dir, host, port, next, ttl));
      await waitReady(r, server);
      current = r;
    },
    async stop() {
      if (current !== undefined) await stopRun(current);
      current = undefined;
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface SilentDnsServer { server: string; queries(): number; stop(): Promise<void> }

/** A UDP "name server" on `host` that counts queries and answers each with `answer(query)`
 * (null: no answer). */
function udpDnsServer(host: string, answer: (q: Buffer) => Buffer | null): Promise<SilentDnsServer> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
    let n = 0;
    s.on('message', (q, rinfo) => {
      n++;
      const reply = answer(q);
      if (reply !== null) s.send(reply, rinfo.port, rinfo.address);
    });
    s.once('error', reject);
    s.bind(0, host, () => {
      resolve({
        server: `${host}:${s.address().port}`,
        queries: () => n,
        stop: () => new Promise<void>((r) => s.close(() => r())),
      });
    });
  });
}

export function startSilentDnsServer(host = '127.0.0.54'): Promise<SilentDnsServer> {
  return udpDnsServer(host, () => null);
}

export function startFailingDnsServer(rcode = 2, host = '127.0.0.56'): Promise<SilentDnsServer> {
  return udpDnsServer(host, (q) => {
    if (q.length < 12) return null;
    const reply = Buffer.from(q); // the question echoed, no answers
    reply[2] = 0x80 | (q[2]! & 0x79); // QR, opcode and RD kept, AA and TC clear
    reply[3] = 0x80 | (rcode & 0x0f); // RA, rcode
    reply.writeUInt16BE(0, 6); // ANCOUNT
    reply.writeUInt16BE(0, 8); // NSCOUNT
    reply.writeUInt16BE(0, 10); // ARCOUNT (an EDNS OPT record in the query is dropped below)
    return questionOnly(reply);
  });
}

/** The header and the first question of a DNS message (everything after it cut). */
function questionOnly(m: Buffer): Buffer {
  if (m.readUInt16BE(4) === 0) return m.subarray(0, 12);
  let i = 12;
  while (i < m.length && m[i] !== 0) i += m[i]! + 1;
  const end = Math.min(m.length, i + 5);
  const out = Buffer.from(m.subarray(0, end));
  out.writeUInt16BE(1, 4);
  return out;
}

export async function deadDnsServer(host = '127.0.0.55'): Promise<string> {
  return `${host}:${await freeUdpPort(host)}`;
}
