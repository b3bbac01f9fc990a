/**
 * config/edit.ts: edits of a config model (the `model` of `config.get`), each checked with the
 * file's own validation, for the operators' tools (the telnet CLI, WebAdmin). Every function is
 * pure: it takes a model and returns a NEW validated model (the input is never changed), built
 * by writing the edited model as config text (`writeConfig`) and loading it back (`loadConfig`:
 * parse, validate, resolve), so an edit is accepted exactly when the same change made in the
 * file would be. Apply the result live with `config.set { text: writeConfig(model) }`.
 *
 * Paths: an `EditPath` names an object inside the model (the model itself is `[]`): attribute
 * names (canonical spelling, e.g. `'pop3'`, `'listeners'`, `'sslControl'`) and, after an object
 * set's name, the index of one of its objects: `['pop3', 'listeners', 1, 'allowRules', 0]`.
 * Objects along a path that are not written yet (a service block, `sslControl`) are created
 * empty when an edit needs them. Attribute names given by a user match case-insensitively.
 *
 * Values are given as text, as typed in the file (`EditValue`): a string for a scalar (`"yes"`,
 * `"300"`, `"127.0.0.1:1110"`), for a set either an array of words or one text `"(a b c)"` /
 * `"a b c"` (split on white space). Objects and object sets are not set by value: enter them
 * (a path) or use the object-set functions.
 *
 * An object set with no value written has an effective list: a service's `listeners` default
 * to its default listener (schema.ts `defaultListener`); `listObjects` returns it, and the first
 * add/update/remove writes it out first, so adding a listener keeps the default one.
 *
 * Exports:
 *   types `EditPath`, `EditValue`, `ShownAttribute`;
 *   `schemaAt(path)` the ObjectSchema of the object at path;
 *   `specAt(path, name)` → [canonical name, AttrSpec] of an attribute of that object;
 *   `getAt(model, path)` the object at path (undefined if not written);
 *   `checkModel(model)` → the model validated (a fresh copy), or the config error;
 *   `setAttributes(model, path, pairs)`, `unsetAttributes(model, path, names)` (back to default);
 *   `listObjects(model, path, set)` the set's effective objects;
 *   `keyAttribute(schema)` the attribute naming an object of a set (`address`, `ipSet`, …);
 *   `findObject(model, path, set, key)` → index of the object whose key attribute equals `key`
 *   (IP text compared as written, case-insensitively), -1 if none;
 *   `addObject(model, path, set, pairs)` → { model, index }; `updateObject(model, path, set,
 *   index, pairs)`; `removeObject(model, path, set, index)`;
 *   `replaceAt(model, path, object | undefined)` (put back a subtree, e.g. the running one: RESET);
 *   `showObject(model, path)` every scalar and set attribute of the object with its value as the
 *   file writes it, defaults marked (object and object-set attributes are left out);
 *   `describeSpec(spec)` what an attribute takes, in words.
 * Throws: PosternError CONFIG_UNKNOWN_ATTRIBUTE (a name the schema does not have at that path, a
 * path that leads nowhere), CONFIG_TYPE (a value of the wrong kind, setting an object by value),
 * CONFIG_RANGE, CONFIG_DUPLICATE, CONFIG_MISSING (the file's validation: the message is the
 * issues' text without the generated text's line and column, e.g.
 * `Server.pop3.maxErrors: expected an unsigned integer, got "x"`), CONFIG_TLS and the resolver's
 * errors as `loadConfig` throws them.
 */
import { PosternError, isPosternError } from '../errors.ts';
import type { ErrorCode } from '../errors.ts';
import { loadConfig } from './load.ts';
import type { ConfigIssue, ConfigModel } from './model.ts';
import { SERVER_SCHEMA, lookupAttribute, serviceDefs } from './schema.ts';
import type { AttrSpec, ModelObject, ModelScalar, ModelValue, ObjectSchema } from './schema.ts';
import { formatValue, writeConfig } from './write.ts';

export type EditPath = readonly (string | number)[];
/** A value as typed in the file: a scalar's text; a set's words (or one text to split). */
export type EditValue = string | readonly string[];

export interface ShownAttribute {
  name: string;
  /** As the file writes it (`yes`, `300`, `"text"`, `(a b)`). */
  text: string;
  /** Not written: the schema's default (text '' when the attribute has none). */
  isDefault: boolean;
}

const SOURCE = '(edit)';

function unknown(what: string, path: EditPath): PosternError {
  return new PosternError('CONFIG_UNKNOWN_ATTRIBUTE', `${what} (at ${showPath(path)})`, { path: showPath(path) });
}

function showPath(path: EditPath): string {
  let s = 'Server';
  for (const p of path) s += typeof p === 'number' ? `[${p}]` : `.${p}`;
  return s;
}

function childSchema(spec: AttrSpec | undefined): ObjectSchema | undefined {
  return spec?.type === 'object' || spec?.type === 'objectSet' ? spec.schema : undefined;
}

/** The schema of the object at `path`. */
export function schemaAt(path: EditPath): ObjectSchema {
  let schema = SERVER_SCHEMA;
  for (let i = 0; i < path.length; i++) {
    const p = path[i]!;
    if (typeof p === 'number') throw unknown('an index must follow the name of an object set', path.slice(0, i + 1));
    const spec = schema.attributes[p];
    const next = childSchema(spec);
    if (next === undefined) throw unknown(`no object attribute '${p}' in a ${schema.typeName} object`, path.slice(0, i));
    if (spec!.type === 'objectSet') {
      if (typeof path[i + 1] !== 'number') {
        if (i + 1 === path.length) throw unknown(`'${p}' is a set of objects: name one by its index`, path);
        throw unknown('an index must follow the name of an object set', path.slice(0, i + 2));
      }
      i++;
    }
    schema = next;
  }
  return schema;
}

/** [canonical name, spec] of attribute `name` (any case) of the object at `path`. */
export function specAt(path: EditPath, name: string): [string, AttrSpec] {
  const schema = schemaAt(path);
  const key = lookupAttribute(schema, name);
  if (key === undefined) throw unknown(`unknown attribute '${name}' in a ${schema.typeName} object`, path);
  return [key, schema.attributes[key]!];
}

function isObject(v: ModelValue | undefined): v is ModelObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The object at `path`, undefined when it (or an object on the way) is not written. */
export function getAt(model: ConfigModel, path: EditPath): ModelObject | undefined {
  schemaAt(path);
  let cur: ModelValue | undefined = model;
  for (const p of path) {
    if (typeof p === 'number') cur = Array.isArray(cur) ? (cur as ModelObject[])[p] : undefined;
    else cur = isObject(cur) ? cur[p] : undefined;
    if (cur === undefined) return undefined;
  }
  return isObject(cur) ? cur : undefined;
}

/** The listeners a service block runs when it writes none (its row's default listener). */
function defaultObjects(path: EditPath, set: string): ModelObject[] | undefined {
  if (path.length !== 1 || set !== 'listeners') return undefined;
  const def = serviceDefs().find((d) => d.name === path[0]);
  return def?.defaultListener == null ? undefined : [{ address: def.defaultListener, enable: true }];
}

/** The object at `path` in a (mutable) copy, created empty along the way where not written. */
function ensureAt(copy: ConfigModel, path: EditPath): ModelObject {
  schemaAt(path);
  let cur: ModelObject = copy;
  for (let i = 0; i < path.length; i++) {
    const p = path[i]!;
    if (typeof p === 'number') continue; // (handled with its set's name)
    const nextIdx = path[i + 1];
    if (typeof nextIdx === 'number') {
      const list = (cur[p] as ModelObject[] | undefined) ?? defaultObjects(path.slice(0, i), p);
      const item = list?.[nextIdx];
      if (list === undefined || item === undefined) throw unknown(`no object ${nextIdx} in '${p}'`, path.slice(0, i + 1));
      cur[p] = list;
      cur = item;
      i++;
      continue;
    }
    const v = cur[p];
    if (!isObject(v)) cur[p] = {};
    cur = cur[p] as ModelObject;
  }
  return cur;
}

/** The issue's text without the generated text's position. */
function issueText(i: ConfigIssue): string {
  return i.message.replace(/^(?:\(edit\): )?line \d+, column \d+: /, '');
}

/** The model, written out and loaded back: a validated fresh copy, or the file's error. */
export function checkModel(model: ConfigModel): ConfigModel {
  const text = writeConfig(model);
  try {
    return loadConfig(text, SOURCE).model;
  } catch (e) {
    if (!isPosternError(e)) throw e;
    const issues = (e.details as { errors?: ConfigIssue[] } | undefined)?.errors;
    if (issues !== undefined && issues.length > 0) {
      throw new PosternError(e.code as ErrorCode, issues.map(issueText).join('; '), { path: issues[0]!.path, errors: issues.map(issueText) });
    }
    throw new PosternError(e.code as ErrorCode, e.message.replace(/^\(edit\): /, ''), e.details as Record<string, unknown> | undefined);
  }
}

function clone(model: ConfigModel): ConfigModel {
  return structuredClone(model);
}

/** A typed value into what the writer writes (validation then reads it as the file would). */
function toModelValue(name: string, spec: AttrSpec, v: EditValue, path: EditPath): ModelValue {
  if (spec.type === 'object' || spec.type === 'objectSet') {
    throw new PosternError('CONFIG_TYPE', `${showPath([...path, name])}: ${describeSpec(spec)}: it is not set by value`, { path: showPath([...path, name]) });
  }
  if (spec.type === 'set') {
    const words = typeof v === 'string' ? v.replace(/^\s*\(|\)\s*$/g, '').trim().split(/\s+/).filter((w) => w !== '') : [...v];
    return words;
  }
  if (typeof v !== 'string') {
    throw new PosternError('CONFIG_TYPE', `${showPath([...path, name])}: expected one value, got a list`, { path: showPath([...path, name]) });
  }
  return v;
}

function applyPairs(obj: ModelObject, path: EditPath, pairs: ReadonlyArray<readonly [string, EditValue]>): void {
  for (const [n, v] of pairs) {
    const [key, spec] = specAt(path, n);
    obj[key] = toModelValue(key, spec, v, path);
  }
}

/** Set attributes of the object at `path` (created if not written). */
export function setAttributes(model: ConfigModel, path: EditPath, pairs: ReadonlyArray<readonly [string, EditValue]>): ConfigModel {
  const copy = clone(model);
  applyPairs(ensureAt(copy, path), path, pairs);
  return checkModel(copy);
}

/** Remove attributes from the object at `path`: they take their defaults again. */
export function unsetAttributes(model: ConfigModel, path: EditPath, names: readonly string[]): ConfigModel {
  const copy = clone(model);
  const obj = ensureAt(copy, path);
  for (const n of names) delete obj[specAt(path, n)[0]];
  return checkModel(copy);
}

function setSpec(path: EditPath, set: string): [string, ObjectSchema] {
  const [key, spec] = specAt(path, set);
  if (spec.type !== 'objectSet') throw unknown(`'${key}' is not a set of objects`, path);
  return [key, spec.schema];
}

/** The set's objects as they apply (its default objects when it is not written). */
export function listObjects(model: ConfigModel, path: EditPath, set: string): ModelObject[] {
  const [key] = setSpec(path, set);
  const written = getAt(model, path)?.[key] as ModelObject[] | undefined;
  return written ?? defaultObjects(path, key) ?? [];
}

/** The attribute that names an object of a set of objects of this schema. */
export function keyAttribute(schema: ObjectSchema): string {
  if ('address' in schema.attributes) return 'address';
  if ('ipSet' in schema.attributes) return 'ipSet';
  const req = Object.entries(schema.attributes).find(([, s]) => s.required === true);
  return req?.[0] ?? Object.keys(schema.attributes)[0]!;
}

/** Index of the object of the set whose key attribute is `key` (as written, any case); -1 if none. */
export function findObject(model: ConfigModel, path: EditPath, set: string, key: string): number {
  const [, schema] = setSpec(path, set);
  const k = keyAttribute(schema);
  const want = key.trim().toLowerCase();
  return listObjects(model, path, set).findIndex((o) => String(o[k] ?? '').toLowerCase() === want);
}

function writtenSet(copy: ConfigModel, path: EditPath, key: string): ModelObject[] {
  const parent = ensureAt(copy, path);
  const list = (parent[key] as ModelObject[] | undefined) ?? defaultObjects(path, key) ?? [];
  parent[key] = list;
  return list;
}

/** Add an object (from its attributes) at the end of the set. */
export function addObject(model: ConfigModel, path: EditPath, set: string, pairs: ReadonlyArray<readonly [string, EditValue]>): { model: ConfigModel; index: number } {
  const [key] = setSpec(path, set);
  const copy = clone(model);
  const list = writtenSet(copy, path, key);
  const obj: ModelObject = {};
  list.push(obj);
  const index = list.length - 1;
  applyPairs(obj, [...path, key, index], pairs);
  return { model: checkModel(copy), index };
}

/** Set attributes of the set's object `index`. */
export function updateObject(model: ConfigModel, path: EditPath, set: string, index: number, pairs: ReadonlyArray<readonly [string, EditValue]>): ConfigModel {
  const [key] = setSpec(path, set);
  const copy = clone(model);
  const list = writtenSet(copy, path, key);
  const obj = list[index];
  if (obj === undefined) throw unknown(`no object ${index} in '${key}'`, path);
  applyPairs(obj, [...path, key, index], pairs);
  return checkModel(copy);
}

/** Remove the set's object `index` (an emptied set stays written, as `()`: nothing runs). */
export function removeObject(model: ConfigModel, path: EditPath, set: string, index: number): ConfigModel {
  const [key] = setSpec(path, set);
  const copy = clone(model);
  const list = writtenSet(copy, path, key);
  if (list[index] === undefined) throw unknown(`no object ${index} in '${key}'`, path);
  list.splice(index, 1);
  return checkModel(copy);
}

/** Put `obj` (or nothing: the attribute is removed) at `path`, e.g. the running config's
 * subtree (RESET). `path` must name an object attribute or an object of a set. */
export function replaceAt(model: ConfigModel, path: EditPath, obj: ModelObject | undefined): ConfigModel {
  if (path.length === 0) return checkModel(obj ?? {});
  schemaAt(path);
  const copy = clone(model);
  const last = path[path.length - 1]!;
  const parentPath = typeof last === 'number' ? path.slice(0, -2) : path.slice(0, -1);
  const parent = ensureAt(copy, parentPath);
  if (typeof last === 'number') {
    const key = path[path.length - 2] as string;
    const list = writtenSet(copy, parentPath, key);
    if (obj === undefined) list.splice(last, 1);
    else list[last] = structuredClone(obj);
  } else if (obj === undefined) delete parent[last];
  else parent[last] = structuredClone(obj);
  return checkModel(copy);
}

function textOf(v: ModelValue, spec: AttrSpec): string {
  if (Array.isArray(v)) return `(${(v as ModelScalar[]).map((x) => formatValue(x, spec.type === 'set' ? spec.of : undefined)).join(' ')})`;
  return formatValue(v as ModelScalar, spec);
}

/** Every scalar and set attribute of the object at `path`, as the file writes it. */
export function showObject(model: ConfigModel, path: EditPath): ShownAttribute[] {
  const schema = schemaAt(path);
  const obj = getAt(model, path) ?? {};
  const out: ShownAttribute[] = [];
  for (const [name, spec] of Object.entries(schema.attributes)) {
    if (spec.type === 'object' || spec.type === 'objectSet') continue;
    const v = obj[name];
    if (v !== undefined) out.push({ name, text: textOf(v, spec), isDefault: false });
    else {
      const d = 'default' in spec ? (spec.default as ModelValue | undefined) : undefined;
      out.push({ name, text: d === undefined ? '' : textOf(d, spec), isDefault: true });
    }
  }
  return out;
}

/** What an attribute takes, in words. */
export function describeSpec(spec: AttrSpec): string {
  switch (spec.type) {
    case 'set': return `a set of ${spec.of.type === 'choice' ? (spec.of.choices ?? []).join('|') : spec.of.type} values`;
    case 'object': return `a ${spec.schema.typeName} object`;
    case 'objectSet': return `a set of ${spec.schema.typeName} objects`;
    case 'bool': return 'yes|no';
    case 'choice': return (spec.choices ?? []).join('|');
    case 'uint': return `an unsigned integer${spec.unit === 'seconds' ? ' (seconds)' : spec.unit === 'kb' ? ' (KB)' : ''}`;
    default: return spec.type;
  }
}
