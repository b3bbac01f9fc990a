/**
 * protocols/ftp/registry.ts: the configuration files of the backup tree (seed 003), both ways.
 *
 *   domainRegistry.bin / Registry.bin      msgpack of `{ format, version, …fields }`
 *   domainCoreConfig.cfg / CoreConfig.cfg   the config syntax (`Domain { … }`, `Account { … }`),
 *                                           written like config/write.ts, parsed by config/parse.ts
 *
 * Both hold the same fields (DomainBackup / AccountBackup of the store), so a file of either
 * kind restores the same thing. Decoding is strict: unknown attributes, wrong types, a missing
 * required field, another object than the file's, trailing junk are all refused with a message
 * naming the line and column (text) or the field (binary); nothing is guessed. Unlimited quotas
 * are the word `unlimited` (text) or nil (binary).
 *
 * Exports: `FILES` (names by kind), `encodeDomain(b, kind)`, `encodeAccount(b, kind)`,
 * `decodeDomain(bytes, kind)` (the fields the file gives), `decodeAccount(bytes, kind)`
 * (defaults filled in), `MAX_CONFIG_BYTES`, `FileKind`.
 * Throws: decode* throw PosternError CONFIG_SYNTAX / CONFIG_TYPE / CONFIG_UNKNOWN_ATTRIBUTE /
 * CONFIG_MISSING / CONFIG_DUPLICATE with a message fit for an FTP reply.
 */
import { Packr } from 'msgpackr';
import { PosternError, type ErrorCode } from '../../errors.ts';
import { parse, type AstValue } from '../../config/parse.ts';
import { formatValue } from '../../config/write.ts';
import type { AccountBackup, DomainBackup } from '../../store/types.ts';

export type FileKind = 'bin' | 'cfg';
export const FILES = Object.freeze({
  domain: Object.freeze({ bin: 'domainRegistry.bin', cfg: 'domainCoreConfig.cfg' }),
  account: Object.freeze({ bin: 'Registry.bin', cfg: 'CoreConfig.cfg' }),
});
/** Larger configuration uploads are refused before they are parsed. */
export const MAX_CONFIG_BYTES = 256 * 1024;

const packr = new Packr({ useRecords: false, mapsAsObjects: true });

type FieldType = 'string' | 'bool' | 'time' | 'limit' | 'services' | 'strings' | 'hex';
interface Field {
  type: FieldType;
  required?: boolean;
}
type Schema = Readonly<Record<string, Field>>;

const DOMAIN: Schema = { name: { type: 'string', required: true }, enabled: { type: 'bool' }, primary: { type: 'bool' }, createdAt: { type: 'time' } };
const ACCOUNT: Schema = {
  address: { type: 'string', required: true },
  enabled: { type: 'bool' },
  passwordHash: { type: 'string', required: true },
  quotaBytes: { type: 'limit' },
  quotaMessages: { type: 'limit' },
  services: { type: 'services' },
  cramMd5: { type: 'bool' },
  cramMd5Pads: { type: 'hex' },
  scramSha256: { type: 'string' }, // store/scram.ts's text form, checked by the restore
  aliases: { type: 'strings' },
  folders: { type: 'strings' },
  createdAt: { type: 'time' },
};
const OBJECTS = { domain: { word: 'Domain', format: 'postern-domain', schema: DOMAIN }, account: { word: 'Account', format: 'postern-account', schema: ACCOUNT } } as const;
type What = keyof typeof OBJECTS;

const fail = (code: ErrorCode, message: string): PosternError => new PosternError(code, message);

// ---- encoding --------------------------------------------------------------------------------

function cfgValue(type: FieldType, v: unknown): string {
  switch (type) {
    case 'string': return formatValue(String(v), { type: 'string' });
    case 'bool': return v === true ? 'yes' : 'no';
    case 'time': return String(v);
    case 'limit': return Number.isFinite(v) ? String(v) : 'unlimited';
    case 'services': return v === 'all' ? '(all)' : `(${(v as string[]).join(' ')})`;
    case 'strings': return `(${(v as string[]).map((x) => formatValue(x, { type: 'string' })).join(' ')})`;
    case 'hex': return formatValue(Buffer.from(v as Uint8Array).toString('hex'), { type: 'string' });
  }
}

function encode(what: What, b: Record<string, unknown>, kind: FileKind, comment: string): Buffer {
  const o = OBJECTS[what];
  if (kind === 'bin') {
    const plain: Record<string, unknown> = { format: o.format, version: 1 };
    for (const [k, f] of Object.entries(o.schema)) {
      const v = b[k];
      if (v === undefined || v === null) continue;
      plain[k] = f.type === 'limit' && !Number.isFinite(v) ? null : f.type === 'hex' ? Buffer.from(v as Uint8Array) : v;
    }
    return packr.pack(plain);
  }
  const lines = [...comment.split('\n').map((l) => `# ${l}`), `${o.word} {`];
  for (const [k, f] of Object.entries(o.schema)) {
    const v = b[k];
    if (v === undefined || v === null) continue;
    lines.push(`    ${k} = ${cfgValue(f.type, v)}`);
  }
  lines.push('}', '');
  return Buffer.from(lines.join('\n'), 'utf8');
}

export function encodeDomain(b: DomainBackup, kind: FileKind): Buffer {
  return encode('domain', b as unknown as Record<string, unknown>, kind,
    `${FILES.domain.cfg}: domain ${b.name} (Postern FTP backup).\nUpload it to /domains/${b.name}/ to recreate or update the domain.`);
}

export function encodeAccount(b: AccountBackup, kind: FileKind): Buffer {
  return encode('account', b as unknown as Record<string, unknown>, kind,
    `${FILES.account.cfg}: account ${b.address} (Postern FTP backup), with its password hash.\nUpload it to its users/<name>/ directory to recreate or update the account.`);
}

// ---- decoding --------------------------------------------------------------------------------

/** A value from either file kind, checked against its field type. `at` names it in errors. */
function checkValue(type: FieldType, v: unknown, at: string): unknown {
  const bad = (want: string): never => {
    throw fail('CONFIG_TYPE', `${at}: expected ${want}`);
  };
  switch (type) {
    case 'string':
      return typeof v === 'string' && v.length > 0 && v.length <= 4096 ? v : bad('a non-empty string');
    case 'bool':
      return typeof v === 'boolean' ? v : bad('yes or no');
    case 'time':
      return Number.isSafeInteger(v) && (v as number) >= 0 ? v : bad('a time in ms since the epoch');
    case 'limit':
      if (v === null || v === 'unlimited') return Infinity;
      return Number.isSafeInteger(v) && (v as number) >= 0 ? v : bad('a whole number ≥ 0 or unlimited');
    case 'services':
      if (Array.isArray(v) && v.length === 1 && v[0] === 'all') return 'all';
      if (v === 'all') return 'all';
      return Array.isArray(v) && v.every((x) => typeof x === 'string' && /^[A-Za-z0-9]{1,32}$/.test(x)) ? v : bad('(all) or a set of service names');
    case 'strings':
      return Array.isArray(v) && v.length <= 10_000 && v.every((x) => typeof x === 'string' && x.length > 0 && x.length <= 1024) ? v : bad('a set of strings');
    case 'hex':
      if (v instanceof Uint8Array) return new Uint8Array(v);
      return typeof v === 'string' && /^([0-9a-f]{2})*$/i.test(v) ? new Uint8Array(Buffer.from(v, 'hex')) : bad('hexadecimal bytes');
  }
}

function complete(what: What, out: Record<string, unknown>, where: string): void {
  for (const [k, f] of Object.entries(OBJECTS[what].schema)) {
    if (f.required === true && !(k in out)) throw fail('CONFIG_MISSING', `${where}: required attribute '${k}' is missing`);
  }
}

function fromBin(what: What, bytes: Buffer, file: string): Record<string, unknown> {
  const o = OBJECTS[what];
  let raw: unknown;
  try {
    raw = packr.unpack(bytes);
  } catch (e) {
    throw fail('CONFIG_SYNTAX', `${file}: not a msgpack document (${(e as Error).message})`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw fail('CONFIG_TYPE', `${file}: not a ${o.word} record`);
  const r = raw as Record<string, unknown>;
  if (r.format !== o.format || r.version !== 1) throw fail('CONFIG_TYPE', `${file}: not a ${o.format} version 1 record`);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(r)) {
    if (k === 'format' || k === 'version') continue;
    const f = Object.hasOwn(o.schema, k) ? o.schema[k] : undefined;
    if (f === undefined) throw fail('CONFIG_UNKNOWN_ATTRIBUTE', `${file}: unknown field '${k.slice(0, 64)}'`);
    out[k] = checkValue(f.type, v, `${file}: ${o.word}.${k}`);
  }
  complete(what, out, file);
  return out;
}

function astScalar(v: AstValue): unknown {
  if (v.kind === 'scalar') {
    if (!v.quoted && /^\d+$/.test(v.text)) return Number(v.text);
    if (!v.quoted && (v.text === 'yes' || v.text === 'no')) return v.text === 'yes';
    return v.text;
  }
  if (v.kind === 'set') return v.items.map((i) => i.text);
  return undefined;
}

function fromCfg(what: What, bytes: Buffer, file: string): Record<string, unknown> {
  const o = OBJECTS[what];
  const text = bytes.toString('utf8');
  if (text.includes('\uFFFD')) throw fail('CONFIG_SYNTAX', `${file}: not UTF-8 text`);
  let doc;
  try {
    doc = parse(text, file);
  } catch (e) {
    throw fail('CONFIG_SYNTAX', (e as Error).message);
  }
  const top = doc.entries;
  if (top.length !== 1 || top[0]!.name !== o.word || top[0]!.value.kind !== 'object') {
    const at = top[0] ?? { line: 1, column: 1 };
    throw fail('CONFIG_TYPE', `${file}: line ${at.line}, column ${at.column}: expected exactly one ${o.word} { … } object`);
  }
  const out: Record<string, unknown> = {};
  for (const e of top[0]!.value.entries) {
    const at = `${file}: line ${e.line}, column ${e.column}: ${o.word}.${e.name.slice(0, 64)}`;
    const f = Object.hasOwn(o.schema, e.name) ? o.schema[e.name] : undefined;
    if (f === undefined) throw fail('CONFIG_UNKNOWN_ATTRIBUTE', `${at}: unknown attribute`);
    if (e.name in out) throw fail('CONFIG_DUPLICATE', `${at}: given twice`);
    const raw = astScalar(e.value);
    // a quoted number is still text; an unquoted word where text is wanted is fine
    out[e.name] = checkValue(f.type, f.type === 'string' || f.type === 'hex' ? (e.value.kind === 'scalar' ? e.value.text : raw) : raw, at);
  }
  complete(what, out, file);
  return out;
}

function decode(what: What, bytes: Buffer, kind: FileKind, file: string): Record<string, unknown> {
  return kind === 'bin' ? fromBin(what, bytes, file) : fromCfg(what, bytes, file);
}

/** The fields the file holds (a restore changes only those). */
export function decodeDomain(bytes: Buffer, kind: FileKind): Partial<DomainBackup> & { name: string } {
  return decode('domain', bytes, kind, FILES.domain[kind]) as Partial<DomainBackup> & { name: string };
}

export function decodeAccount(bytes: Buffer, kind: FileKind): AccountBackup {
  const r = decode('account', bytes, kind, FILES.account[kind]);
  const pads = (r.cramMd5Pads as Uint8Array | undefined) ?? null;
  return {
    address: r.address as string,
    enabled: (r.enabled as boolean | undefined) ?? true,
    passwordHash: r.passwordHash as string,
    quotaBytes: (r.quotaBytes as number | undefined) ?? Infinity,
    quotaMessages: (r.quotaMessages as number | undefined) ?? Infinity,
    services: (r.services as 'all' | string[] | undefined) ?? 'all',
    cramMd5: (r.cramMd5 as boolean | undefined) ?? false,
    cramMd5Pads: pads !== null && pads.length === 0 ? null : pads,
    scramSha256: (r.scramSha256 as string | undefined) ?? null,
    aliases: (r.aliases as string[] | undefined) ?? [],
    folders: (r.folders as string[] | undefined) ?? [],
    createdAt: (r.createdAt as number | undefined) ?? Date.now(),
  };
}
