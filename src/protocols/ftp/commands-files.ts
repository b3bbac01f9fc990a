/**
 * protocols/ftp/commands-files.ts: the rows of the FTP command table that walk and move the
 * virtual tree: PWD, CWD, CDUP; PASV, EPSV (RFC 2428), PORT, EPRT (only to the client's own
 * address, port ≥ 1024); LIST, NLST, MLSD, MLST (RFC 3659), STAT path, SIZE, MDTM; RETR (with
 * REST), STOR (restore, see restore.ts); DELE, MKD, RMD; and the X… aliases of RFC 775.
 *
 * Exports: `FILE_ROWS` (verb → row). Throws nothing.
 */
import net from 'node:net';
import ipaddr from 'ipaddr.js';
import type { Verdict } from '../../session/line-session.ts';
import { PassiveListener, receiveBytes, sendBytes } from './data.ts';
import { sessionLimits } from '../../session/limits.ts';
import { OFF } from '../../config/options.ts';
import { sendBody } from './bodies.ts';
import { listLine, mdtmTime, mlsxLine, type Entry } from './listing.ts';
import { formatPath, quotePath } from './paths.ts';
import { applyUpload, deleteFile, makeDir, removeDir, storeFailure, uploadTarget, type ParseStructure } from './restore.ts';
import type { MessageStructure } from '../../store/structure.ts';
import { isDir, type Node, type VirtualTree } from './tree.ts';
import { serverStatus } from './commands-control.ts';
import { closeData, ftpReply, pathOf, resultReply, withData, type Row, type S, type Session } from './session.ts';

const READY: readonly S[] = ['ready'];
const tree = (s: Session): VirtualTree => s.data.tree!;
/** The final replies of every transfer, made once (a verdict is never changed after). */
const TRANSFER_COMPLETE = ftpReply(226, 'Transfer complete.');
const LISTING_SENT = ftpReply(226, 'Directory send OK.');
/** A restored message over this size has its MIME structure parsed on the service's pool (as
 * processing's poolMessageSize default); a smaller one by the store as it appends it. */
const POOL_PARSE_ABOVE = 64 * 1024;
const poolParse = (s: Session): ParseStructure => async (b) =>
  b.length > POOL_PARSE_ABOVE ? ((await s.ctx.runTask('parseStructure', { body: b }, 60_000)) as MessageStructure) : undefined;

/** Run a store-backed handler; a store failure becomes its FTP reply. */
function guarded(run: (args: string, s: Session) => Promise<Verdict<S>>): Row['run'] {
  return async (args, s) => {
    try {
      return await run(args, s);
    } catch (e) {
      s.ctx.log.warn({ err: e }, 'ftp: store call failed');
      return resultReply(storeFailure(e));
    }
  };
}

async function locate(s: Session, arg: string): Promise<{ names: string[]; node: Node | null } | { verdict: Verdict<S> }> {
  const p = pathOf(s, arg);
  if ('verdict' in p) return p;
  return { names: p.names, node: await tree(s).stat(p.names) };
}

function needArg(args: string, verb: string): Verdict<S> | null {
  return args.trim() === '' ? ftpReply(501, `${verb} needs a path.`, 'command') : null;
}

// ---- data endpoints ----

function sameHost(a: string, b: string): boolean {
  try {
    const x = ipaddr.process(a);
    const y = ipaddr.process(b);
    return x.kind() === y.kind() && x.toNormalizedString() === y.toNormalizedString();
  } catch {
    return false;
  }
}

function setActive(s: Session, host: string, port: number): Verdict<S> {
  if (s.data.epsvAll) return ftpReply(503, 'EPSV ALL was given: only EPSV may be used.', 'command');
  if (!sameHost(host, s.data.peer)) return ftpReply(500, 'Illegal PORT command: data connections go only to your own address.', 'command');
  if (port < 1024) return ftpReply(500, 'Illegal PORT command: port below 1024.', 'command');
  closeData(s.data);
  s.data.active = { host, port };
  return ftpReply(200, 'PORT command successful. Consider using PASV.');
}

/** The session's passive listener, armed for one connection (kept open between transfers). */
async function passive(s: Session): Promise<PassiveListener> {
  const d = s.data;
  d.active = null;
  let l = d.passive;
  if (l === null || !l.isOpen) {
    closeData(d);
    l = await PassiveListener.open(d.local, d.peer, d.o.passivePortMin, d.o.passivePortMax);
    d.passive = l;
  }
  l.arm();
  return l;
}

async function pasv(_a: string, s: Session): Promise<Verdict<S>> {
  if (s.data.epsvAll) return ftpReply(503, 'EPSV ALL was given: only EPSV may be used.', 'command');
  if (!net.isIPv4(s.data.local)) return ftpReply(425, 'PASV works over IPv4 only; use EPSV.');
  try {
    const l = await passive(s);
    return ftpReply(227, `Entering Passive Mode (${s.data.pasvHost},${l.port >> 8},${l.port & 255}).`);
  } catch (e) {
    return ftpReply(425, `Can't open passive connection: ${(e as Error).message}.`);
  }
}

async function epsv(args: string, s: Session): Promise<Verdict<S>> {
  const a = args.trim().toUpperCase();
  if (a === 'ALL') {
    s.data.epsvAll = true;
    return ftpReply(200, 'EPSV ALL ok.');
  }
  const fam = net.isIPv4(s.data.local) ? '1' : '2';
  if (a !== '' && a !== fam) return ftpReply(522, `Network protocol not supported, use (${fam})`, a === '1' || a === '2' ? undefined : 'command');
  try {
    const l = await passive(s);
    return ftpReply(229, `Entering Extended Passive Mode (|||${l.port}|)`);
  } catch (e) {
    return ftpReply(425, `Can't open passive connection: ${(e as Error).message}.`);
  }
}

function port(args: string, s: Session): Verdict<S> {
  const m = /^\s*(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3})\s*$/.exec(args);
  const n = m === null ? [] : m.slice(1).map(Number);
  if (m === null || n.some((x) => x > 255)) return ftpReply(501, 'PORT takes h1,h2,h3,h4,p1,p2.', 'command');
  return setActive(s, n.slice(0, 4).join('.'), n[4]! * 256 + n[5]!);
}

function eprt(args: string, s: Session): Verdict<S> {
  const a = args.trim();
  const dl = a[0];
  const parts = dl === undefined || !/[!-~]/.test(dl) ? [] : a.split(dl);
  // |proto|address|port|  → ['', proto, address, port, '']
  if (parts.length !== 5 || parts[0] !== '' || parts[4] !== '' || !/^\d{1,5}$/.test(parts[3]!)) return ftpReply(501, 'EPRT takes |proto|address|port|.', 'command');
  const proto = parts[1];
  const host = parts[2]!;
  if ((proto === '1' && !net.isIPv4(host)) || (proto === '2' && !net.isIPv6(host))) return ftpReply(501, 'EPRT: the address does not match the protocol.', 'command');
  if (proto !== '1' && proto !== '2') return ftpReply(522, 'Network protocol not supported, use (1,2)', 'command');
  const p = Number(parts[3]);
  if (p > 65535) return ftpReply(501, 'EPRT: bad port.', 'command');
  return setActive(s, host, p);
}

// ---- listings ----

function listArg(a: string): string {
  let x = a.trim();
  while (/^-[A-Za-z]+(\s|$)/.test(x)) x = x.replace(/^-[A-Za-z]+\s*/, '');
  return x;
}

type Format = 'list' | 'nlst' | 'mlsd';

async function entriesOf(s: Session, arg: string, fmt: Format): Promise<Entry[] | Verdict<S>> {
  const l = await locate(s, arg);
  if ('verdict' in l) return l.verdict;
  if (l.node === null) return ftpReply(550, `${formatPath(l.names)}: no such file or directory.`);
  if (isDir(l.node)) return tree(s).list(l.node);
  if (fmt === 'mlsd') return ftpReply(501, `${formatPath(l.names)} is not a directory (use MLST).`, 'command');
  return [await tree(s).entry(l.node, l.names[l.names.length - 1]!)];
}

function formatEntries(entries: Entry[], fmt: Format): string {
  const now = Date.now();
  const line = fmt === 'list' ? (e: Entry) => listLine(e, now) : fmt === 'mlsd' ? mlsxLine : (e: Entry) => e.name;
  return entries.map((e) => `${line(e)}\r\n`).join('');
}

function listing(fmt: Format): Row['run'] {
  return guarded(async (args, s) => {
    const entries = await entriesOf(s, fmt === 'mlsd' ? args.trim() : listArg(args), fmt);
    if (!Array.isArray(entries)) return entries;
    const text = Buffer.from(formatEntries(entries, fmt), 'utf8');
    return withData(s, 'Here comes the directory listing.', async (sock, t) => {
      await sendBytes(sock, text, s.data.o.dataTimeoutMs, t);
      return LISTING_SENT;
    }, true);
  });
}

async function mlst(args: string, s: Session): Promise<Verdict<S>> {
  const l = await locate(s, args.trim());
  if ('verdict' in l) return l.verdict;
  if (l.node === null) return ftpReply(550, `${formatPath(l.names)}: no such file or directory.`);
  const path = formatPath(l.names);
  const e = await tree(s).entry(l.node, path);
  return ftpReply(250, [`Listing ${path}`, mlsxLine(e), 'End.'].join('\n'));
}

async function statPath(args: string, s: Session): Promise<Verdict<S>> {
  if (args.trim() === '') return serverStatus(s);
  const entries = await entriesOf(s, listArg(args), 'list');
  if (!Array.isArray(entries)) return entries;
  const now = Date.now();
  return ftpReply(213, ['Status follows:', ...entries.map((e) => listLine(e, now)), 'End of status.'].join('\n'));
}

async function fileInfo(args: string, s: Session, verb: 'SIZE' | 'MDTM'): Promise<Verdict<S>> {
  const missing = needArg(args, verb);
  if (missing !== null) return missing;
  const l = await locate(s, args);
  if ('verdict' in l) return l.verdict;
  if (l.node === null || isDir(l.node)) return ftpReply(550, `${formatPath(l.names)}: ${l.node === null ? 'no such file' : 'not a plain file'}.`);
  const e = await tree(s).entry(l.node, '');
  return ftpReply(213, verb === 'SIZE' ? String(e.size) : mdtmTime(e.mtime));
}

// ---- transfers ----

async function retr(args: string, s: Session): Promise<Verdict<S>> {
  const missing = needArg(args, 'RETR');
  if (missing !== null) return missing;
  const rest = s.data.rest;
  s.data.rest = 0;
  const p = pathOf(s, args);
  if ('verdict' in p) return p.verdict;
  // (the next message of the folder being mirrored is found without waiting: no store call)
  const node = tree(s).cached(p.names) ?? (await tree(s).stat(p.names));
  const l = { names: p.names, node };
  if (l.node === null || isDir(l.node)) return ftpReply(550, `${formatPath(l.names)}: ${l.node === null ? 'no such file' : 'not a plain file'}.`);
  const content = l.node.k === 'message' ? l.node.entry.locator : await tree(s).content(l.node);
  const size = content.length;
  if (rest > size) return ftpReply(554, `Restart position ${rest} is beyond the end of the file (${size} bytes).`);
  const name = l.names[l.names.length - 1]!;
  const mode = s.data.type === 'I' ? 'BINARY' : 'ASCII';
  return withData(s, `Opening ${mode} mode data connection for ${name} (${size - rest} bytes).`, async (sock, t) => {
    if (Buffer.isBuffer(content)) await sendBytes(sock, content.subarray(rest), s.data.o.dataTimeoutMs, t);
    else await sendBody(sock, content, rest, s.data.o.dataTimeoutMs, t, s.data.bodies);
    return TRANSFER_COMPLETE;
  }, true);
}

async function stor(args: string, s: Session): Promise<Verdict<S>> {
  const missing = needArg(args, 'STOR');
  if (missing !== null) return missing;
  const rest = s.data.rest;
  s.data.rest = 0;
  if (rest > 0) return ftpReply(554, 'Restarted uploads are not supported: messages and configuration files are stored whole.');
  const p = pathOf(s, args);
  if ('verdict' in p) return p.verdict;
  const target = await uploadTarget(tree(s), p.names, s.data.o.maxUploadBytes);
  if (!('k' in target)) return resultReply(target);
  return withData(s, 'Ok to send data.', async (sock, t) => {
    const { minDataRateBytesPerSec, dataRateWindowMs } = sessionLimits(s.ctx.service);
    const minRate = minDataRateBytesPerSec === OFF ? undefined : { bytesPerSec: minDataRateBytesPerSec, windowMs: dataRateWindowMs };
    const bytes = await receiveBytes(sock, target.max, s.data.o.dataTimeoutMs, t, minRate);
    if (bytes.length > target.max) return ftpReply(552, `Upload larger than ${target.max} bytes; nothing was stored.`, 'command');
    return resultReply(await applyUpload(tree(s), s.ctx.store!, target, bytes, poolParse(s)));
  });
}

// ---- navigation and changes ----

async function cwd(args: string, s: Session): Promise<Verdict<S>> {
  const l = await locate(s, args.trim() === '' ? '/' : args);
  if ('verdict' in l) return l.verdict;
  if (l.node === null) return ftpReply(550, `${formatPath(l.names)}: no such directory.`);
  if (!isDir(l.node)) return ftpReply(550, `${formatPath(l.names)}: not a directory.`);
  s.data.cwd = l.names;
  return ftpReply(250, `Directory changed to ${formatPath(l.names)}.`);
}

function change(fn: typeof makeDir, verb: string): Row['run'] {
  return guarded(async (args, s) => {
    const missing = needArg(args, verb);
    if (missing !== null) return missing;
    const p = pathOf(s, args);
    if ('verdict' in p) return p.verdict;
    return resultReply(await fn(tree(s), s.ctx.store!, p.names));
  });
}

const pwd: Row = { states: READY, run: (_a, s) => ftpReply(257, `${quotePath(formatPath(s.data.cwd))} is the current directory.`) };
const cwdRow: Row = { states: READY, run: guarded(cwd) };
const cdup: Row = { states: READY, run: guarded((_a, s) => cwd('..', s)) };
const mkd: Row = { states: READY, run: change(makeDir, 'MKD') };
const rmd: Row = { states: READY, run: change(removeDir, 'RMD') };

export const FILE_ROWS: ReadonlyArray<[string, Row]> = [
  ['PWD', pwd], ['XPWD', pwd],
  ['CWD', cwdRow], ['XCWD', cwdRow],
  ['CDUP', cdup], ['XCUP', cdup],
  ['PASV', { states: READY, run: pasv }],
  ['EPSV', { states: READY, run: epsv }],
  ['PORT', { states: READY, run: port }],
  ['EPRT', { states: READY, run: eprt }],
  ['REST', {
    states: READY,
    run: (args, s) => {
      const a = args.trim();
      if (!/^\d{1,15}$/.test(a)) return ftpReply(501, 'REST takes a byte offset.', 'command');
      s.data.rest = Number(a);
      return ftpReply(350, `Restarting at ${a}. Send RETR to start the transfer.`);
    },
  }],
  ['LIST', { states: READY, run: listing('list') }],
  ['NLST', { states: READY, run: listing('nlst') }],
  ['MLSD', { states: READY, run: listing('mlsd') }],
  ['MLST', { states: READY, run: guarded(mlst) }],
  ['STAT', { states: ['login', 'password', 'ready'], run: (a, s) => (s.state === 'ready' ? guarded(statPath)(a, s) : serverStatus(s)) }],
  ['SIZE', { states: READY, run: guarded((a, s) => fileInfo(a, s, 'SIZE')) }],
  ['MDTM', { states: READY, run: guarded((a, s) => fileInfo(a, s, 'MDTM')) }],
  ['RETR', { states: READY, run: guarded(retr) }],
  ['STOR', { states: READY, run: guarded(stor) }],
  ['DELE', { states: READY, run: change(deleteFile, 'DELE') }],
  ['MKD', mkd], ['XMKD', mkd],
  ['RMD', rmd], ['XRMD', rmd],
];
