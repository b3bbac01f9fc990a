/**
 * config/model.ts: checks a parsed config against the schema and builds the config model: a
 * plain object keyed by the schema's attribute names (canonical spelling), holding only the
 * attributes written, with their values as written in seed units (UINT → number, yes/no →
 * boolean, CHOICE → canonical word, other scalars → string as written, sets → arrays, objects →
 * objects). The model is what `writeConfig` saves; `resolve` turns it into options.
 *
 * Every problem is collected first, then one error is thrown for all of them.
 *
 * Exports: `ConfigModel`, `ConfigIssue`, `validate(doc, sourceName?)`, and re-exports
 * `resolve(model)` (config/resolve.ts) and the model value types (config/schema.ts).
 * Throws: PosternError with the code of the first problem in file order (CONFIG_UNKNOWN_ATTRIBUTE,
 * CONFIG_TYPE, CONFIG_RANGE, CONFIG_DUPLICATE, CONFIG_MISSING); its message lists every problem,
 * one a line, each naming line, column and attribute path; `details` holds the first problem's
 * `line`, `column`, `path`, plus `errors` (all problems) and `source` when given.
 */
import { PosternError } from '../errors.ts';
import type { ErrorCode } from '../errors.ts';
import type { AstObject, AstPos, AstScalar, AstValue } from './parse.ts';
import {
  DOCUMENT_SCHEMA, MAX_NAME_LENGTH, MAX_VALUE_LENGTH, lookupAttribute, serviceDefs,
} from './schema.ts';
import type { AttrSpec, ModelObject, ModelScalar, ModelValue, ObjectSchema, ScalarSpec } from './schema.ts';
import { UINT_MAX, checkIp, checkIpPort, checkIpSet, checkUint, endpointKey, isIp, parseEndpoint } from './values.ts';
import type { ValueResult } from './values.ts';
import { HOSTNAME_RE } from '../net/hostname.ts';

export { resolve } from './resolve.ts';
export type { ModelObject, ModelScalar, ModelValue } from './schema.ts';

/** The contents of the file's `Server` object. */
export type ConfigModel = ModelObject;

export interface ConfigIssue {
  code: ErrorCode;
  line: number;
  column: number;
  path: string;
  message: string;
}

interface Ctx {
  issues: ConfigIssue[];
  /** path → position of the value written there */
  positions: Map<string, AstPos>;
  prefix: string;
}

function report(ctx: Ctx, code: ErrorCode, at: AstPos, path: string, what: string): void {
  const message = `${ctx.prefix}line ${at.line}, column ${at.column}: ${path}: ${what}`;
  ctx.issues.push({ code, line: at.line, column: at.column, path, message });
}

const join = (parent: string, name: string): string => (parent === '' ? name : `${parent}.${name}`);

function describeScalar(spec: ScalarSpec): string {
  switch (spec.type) {
    case 'uint': return 'an unsigned integer';
    case 'string': case 'csString': return 'a string';
    case 'hostname': return 'a host name (letters, digits, hyphens and dots)';
    case 'ip': return 'an IP address';
    case 'ipSet': return 'an IP set';
    case 'ipPort': return 'ip:port';
    case 'ipOptPort': return 'an IP address with an optional :port (IPv6 as [ip]:port)';
    case 'bool': return 'yes or no';
    case 'choice': return `one of ${(spec.choices ?? []).join('|')}`;
  }
}

function describeSpec(spec: AttrSpec): string {
  switch (spec.type) {
    case 'set': return `a set of values in ( ), each ${describeScalar(spec.of)}`;
    case 'object': return `a ${spec.schema.typeName} object in { }`;
    case 'objectSet': return `a set of ${spec.schema.typeName} objects in ( )`;
    default: return describeScalar(spec);
  }
}

function describeAst(v: AstValue): string {
  switch (v.kind) {
    case 'scalar': return JSON.stringify(v.text);
    case 'object': return 'an object';
    case 'set': return 'a set of values';
    case 'objectSet': return 'a set of objects';
  }
}

function checkScalar(s: AstScalar, spec: ScalarSpec): ValueResult<ModelScalar> {
  const text = s.text;
  if (text.length > MAX_VALUE_LENGTH) {
    return { ok: false, code: 'CONFIG_RANGE', message: `value is ${text.length} characters long; at most ${MAX_VALUE_LENGTH} are allowed` };
  }
  switch (spec.type) {
    case 'uint': return checkUint(text, spec.min ?? 0, spec.max ?? UINT_MAX);
    case 'string': case 'csString': return { ok: true, value: text };
    case 'hostname':
      if (HOSTNAME_RE.test(text)) return { ok: true, value: text.toLowerCase() };
      break;
    case 'ip': return checkIp(text);
    case 'ipSet': return checkIpSet(text);
    case 'ipPort': return checkIpPort(text);
    case 'ipOptPort': return isIp(text) ? { ok: true, value: text } : checkIpPort(text);
    case 'bool': {
      const lower = text.toLowerCase();
      if (lower === 'yes' || lower === 'no') return { ok: true, value: lower === 'yes' };
      break;
    }
    case 'choice': {
      const lower = text.toLowerCase();
      const found = (spec.choices ?? []).find((c) => c.toLowerCase() === lower);
      if (found !== undefined) return { ok: true, value: found };
      break;
    }
  }
  return { ok: false, code: 'CONFIG_TYPE', message: `expected ${describeScalar(spec)}, got ${JSON.stringify(text)}` };
}

function validateValue(v: AstValue, spec: AttrSpec, path: string, ctx: Ctx): ModelValue | undefined {
  const wrong = (): undefined => {
    report(ctx, 'CONFIG_TYPE', v, path, `expected ${describeSpec(spec)}, got ${describeAst(v)}`);
    return undefined;
  };
  ctx.positions.set(path, v);
  if (spec.type === 'object') return v.kind === 'object' ? validateObject(v, spec.schema, path, ctx) : wrong();
  if (spec.type === 'objectSet') {
    if (v.kind === 'set' && v.items.length === 0) return [];
    if (v.kind !== 'objectSet') return wrong();
    const out: ModelObject[] = [];
    v.items.forEach((item, i) => out.push(validateObject(item, spec.schema, `${path}[${i}]`, ctx)));
    return out;
  }
  if (spec.type === 'set') {
    if (v.kind === 'objectSet') return wrong();
    if (v.kind !== 'set') return wrong();
    const out: ModelScalar[] = [];
    let okAll = true;
    v.items.forEach((item, i) => {
      const r = checkScalar(item, spec.of);
      if (r.ok) out.push(r.value);
      else {
        okAll = false;
        report(ctx, r.code, item, `${path}[${i}]`, r.message);
      }
    });
    return okAll ? out : undefined;
  }
  if (v.kind !== 'scalar') return wrong();
  const r = checkScalar(v, spec);
  if (r.ok) return r.value;
  report(ctx, r.code, v, path, r.message);
  return undefined;
}

function defaultOf(schema: ObjectSchema, name: string): ModelValue | undefined {
  const spec = schema.attributes[name];
  return spec !== undefined && 'default' in spec ? (spec.default as ModelValue | undefined) : undefined;
}

function validateObject(obj: AstObject, schema: ObjectSchema, path: string, ctx: Ctx): ModelObject {
  const out: ModelObject = {};
  const seen = new Map<string, AstPos>();
  ctx.positions.set(path, obj);
  for (const e of obj.entries) {
    if (e.name.length > MAX_NAME_LENGTH) {
      report(ctx, 'CONFIG_RANGE', e, join(path, e.name), `attribute name is ${e.name.length} characters long; at most ${MAX_NAME_LENGTH} are allowed`);
      continue;
    }
    const key = lookupAttribute(schema, e.name);
    if (key === undefined) {
      report(ctx, 'CONFIG_UNKNOWN_ATTRIBUTE', e, join(path, e.name), `unknown attribute '${e.name}' in a ${schema.typeName} object`);
      continue;
    }
    const p = join(path, key);
    const prev = seen.get(key);
    if (prev !== undefined) {
      report(ctx, 'CONFIG_DUPLICATE', e, p, `attribute given twice (first at line ${prev.line}, column ${prev.column})`);
      continue;
    }
    seen.set(key, e);
    const value = validateValue(e.value, schema.attributes[key]!, p, ctx);
    if (value !== undefined) out[key] = value;
  }
  for (const [key, spec] of Object.entries(schema.attributes)) {
    if (spec.required === true && !seen.has(key)) {
      report(ctx, 'CONFIG_MISSING', obj, join(path, key), `required attribute '${key}' is missing from this ${schema.typeName} object`);
    }
  }
  for (const c of schema.checks ?? []) {
    if ((seen.has(c.attr) && !(c.attr in out)) || (seen.has(c.atLeast) && !(c.atLeast in out))) continue;
    if (!seen.has(c.attr) && !seen.has(c.atLeast)) continue;
    const a = out[c.attr] ?? defaultOf(schema, c.attr);
    const b = out[c.atLeast] ?? defaultOf(schema, c.atLeast);
    if (typeof a !== 'number' || typeof b !== 'number' || a >= b) continue;
    const name = (n: string, v: number): string => `${n} ${v}${n in out ? '' : ' (the default)'}`;
    const at = seen.has(c.attr) ? c.attr : c.atLeast;
    report(ctx, 'CONFIG_RANGE', ctx.positions.get(join(path, at)) ?? obj, join(path, at),
      `${name(c.attr, a)} must be at least ${name(c.atLeast, b)}`);
  }
  return out;
}

interface Bound {
  key: string;
  path: string;
  pos: AstPos | null; // null: an embedded default listener
  service: string;
  enable: boolean;
}

/** Listener addresses: unique within a service; across services (and the status listener),
 * unique among enabled listeners of each transport. Port 0 (system-chosen) never collides. */
function checkListeners(server: ModelObject, ctx: Ctx): void {
  const byTransport: Record<'tcp' | 'udp', Bound[]> = { tcp: [], udp: [] };
  const status = server['statusListener'];
  if (typeof status === 'string') {
    byTransport.tcp.push({ key: endpointKey(parseEndpoint(status)), path: 'Server.statusListener', pos: ctx.positions.get('Server.statusListener') ?? null, service: 'statusListener', enable: true });
  }
  for (const def of serviceDefs()) {
    const name = def.name;
    if (def.transport === 'none') continue;
    const block = server[name] as ModelObject | undefined;
    const written = block?.['listeners'] as ModelObject[] | undefined;
    const list: Bound[] = [];
    if (written === undefined) {
      if (def.defaultListener !== null && ctx.positions.get(`Server.${name}.listeners`) === undefined) {
        list.push({ key: endpointKey(parseEndpoint(def.defaultListener)), path: `Server.${name}.listeners (default ${def.defaultListener})`, pos: null, service: name, enable: true });
      }
    } else {
      written.forEach((l, i) => {
        if (typeof l['address'] !== 'string') return;
        const path = `Server.${name}.listeners[${i}].address`;
        list.push({ key: endpointKey(parseEndpoint(l['address'])), path, pos: ctx.positions.get(path) ?? null, service: name, enable: l['enable'] !== false });
      });
    }
    const mine = new Map<string, Bound>();
    for (const b of list) {
      const first = mine.get(b.key);
      if (first !== undefined && b.pos !== null) {
        report(ctx, 'CONFIG_DUPLICATE', b.pos, b.path, `listener address ${b.key} is already used by ${where(first)}`);
        continue;
      }
      mine.set(b.key, b);
      byTransport[def.transport].push(b);
    }
  }
  for (const list of Object.values(byTransport)) {
    const owners = new Map<string, Bound>();
    for (const b of list) {
      if (!b.enable || b.key.endsWith(':0')) continue;
      const first = owners.get(b.key);
      if (first === undefined) {
        owners.set(b.key, b);
        continue;
      }
      const [later, other] = b.pos !== null ? [b, first] : [first, b];
      report(ctx, 'CONFIG_DUPLICATE', later.pos ?? { line: 1, column: 1 }, later.path,
        `listener address ${b.key} is also used by ${where(other)} (service ${other.service})`);
    }
  }
}

function where(b: Bound): string {
  return b.pos === null ? b.path : `${b.path} at line ${b.pos.line}, column ${b.pos.column}`;
}

/** (issue 16) The user databases and maps: connector and map names unique, without spaces; a
 * connector's URLs ldap:// or ldaps://; a file map has a path, an LDAP map a known connector;
 * a service's `userdbConnectorType ldap` names a known connector; every `userMap` attribute of a
 * service (at any depth, e.g. `mappingData.userMap`) names a known map (or none). */
function checkUserdb(server: ModelObject, ctx: Ctx): void {
  const at = (path: string): AstPos => ctx.positions.get(path) ?? { line: 1, column: 1 };
  const named = (list: ModelObject[], base: string, what: string): Set<string> => {
    const seen = new Set<string>();
    list.forEach((o, i) => {
      const name = o['name'];
      if (typeof name !== 'string') return;
      const path = `${base}[${i}].name`;
      if (/\s/.test(name) || name === '') report(ctx, 'CONFIG_TYPE', at(path), path, `${what} name ${JSON.stringify(name)} must be one word without spaces`);
      else if (what === 'user map' && name.toLowerCase() === 'none') report(ctx, 'CONFIG_RANGE', at(path), path, 'user map name "none" is reserved (it means no map)');
      else if (seen.has(name)) report(ctx, 'CONFIG_DUPLICATE', at(path), path, `${what} name "${name}" is defined twice`);
      seen.add(name);
    });
    return seen;
  };
  const connectors = ((server['userdb'] as ModelObject | undefined)?.['ldapConnectors'] ?? []) as ModelObject[];
  const connectorNames = named(connectors, 'Server.userdb.ldapConnectors', 'LDAP connector');
  connectors.forEach((c, i) => {
    const urls = (c['urls'] ?? []) as unknown[];
    const path = `Server.userdb.ldapConnectors[${i}].urls`;
    if (urls.length === 0) report(ctx, 'CONFIG_MISSING', at(path), path, 'an LDAP connector needs at least one URL');
    for (const u of urls) {
      if (typeof u === 'string' && !/^ldaps?:\/\/[^/\s?#]+\/?$/i.test(u)) report(ctx, 'CONFIG_TYPE', at(path), path, `expected ldap://host[:port] or ldaps://host[:port], got ${JSON.stringify(u)}`);
    }
  });
  const known = [...connectorNames].join(', ') || 'none defined';
  const maps = (server['userMaps'] ?? []) as ModelObject[];
  const mapNames = named(maps, 'Server.userMaps', 'user map');
  maps.forEach((m, i) => {
    const base = `Server.userMaps[${i}]`;
    if (m['type'] === 'file') {
      if (typeof m['path'] !== 'string' || m['path'] === '') report(ctx, 'CONFIG_MISSING', at(`${base}.type`), `${base}.path`, 'a file user map needs a path');
    } else if (typeof m['type'] === 'string') {
      const c = m['ldapConnector'];
      if (typeof c !== 'string') report(ctx, 'CONFIG_MISSING', at(`${base}.type`), `${base}.ldapConnector`, `a ${m['type']} user map needs an ldapConnector (defined: ${known})`);
      else if (!connectorNames.has(c)) report(ctx, 'CONFIG_MISSING', at(`${base}.ldapConnector`), `${base}.ldapConnector`, `LDAP connector "${c}" is not defined in Server.userdb.ldapConnectors (defined: ${known})`);
    }
  });
  const knownMaps = [...mapNames].join(', ') || 'none defined';
  const walk = (o: ModelObject, path: string): void => {
    for (const [k, v] of Object.entries(o)) {
      const p = `${path}.${k}`;
      if (k === 'userMap' && typeof v === 'string' && v !== '' && v.toLowerCase() !== 'none' && !mapNames.has(v)) {
        report(ctx, 'CONFIG_MISSING', at(p), p, `user map "${v}" is not defined in Server.userMaps (defined: ${knownMaps})`);
      } else if (Array.isArray(v)) {
        v.forEach((x, i) => { if (typeof x === 'object' && x !== null) walk(x as ModelObject, `${p}[${i}]`); });
      } else if (typeof v === 'object' && v !== null) walk(v as ModelObject, p);
    }
  };
  for (const def of serviceDefs()) {
    const block = server[def.name] as ModelObject | undefined;
    if (block === undefined) continue;
    const base = `Server.${def.name}`;
    if (block['userdbConnectorType'] === 'ldap') {
      const n = block['userdbConnectorName'];
      if (typeof n !== 'string') report(ctx, 'CONFIG_MISSING', at(`${base}.userdbConnectorType`), `${base}.userdbConnectorName`, `userdbConnectorType ldap needs a userdbConnectorName (defined: ${known})`);
      else if (!connectorNames.has(n)) report(ctx, 'CONFIG_MISSING', at(`${base}.userdbConnectorName`), `${base}.userdbConnectorName`, `LDAP connector "${n}" is not defined in Server.userdb.ldapConnectors (defined: ${known})`);
    }
    walk(block, base);
  }
}

/** Check a parsed document (the result of `parse`) and build its model. */
export function validate(doc: AstObject, sourceName?: string): ConfigModel {
  const ctx: Ctx = { issues: [], positions: new Map(), prefix: sourceName === undefined ? '' : `${sourceName}: ` };
  const top = validateObject(doc, DOCUMENT_SCHEMA, '', ctx);
  const server = top['Server'] as ModelObject | undefined;
  if (server !== undefined) checkListeners(server, ctx);
  if (server !== undefined) checkUserdb(server, ctx);
  if (ctx.issues.length > 0) {
    const issues = ctx.issues.slice().sort((a, b) => a.line - b.line || a.column - b.column);
    const first = issues[0]!;
    throw new PosternError(first.code, issues.map((i) => i.message).join('\n'), {
      line: first.line,
      column: first.column,
      path: first.path,
      errors: issues,
      ...(sourceName === undefined ? {} : { source: sourceName }),
    });
  }
  return server!;
}
