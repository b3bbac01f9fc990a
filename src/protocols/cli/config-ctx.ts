/**
 * protocols/cli/config-ctx.ts: the server's configuration contexts of the CLI (`<server#>`,
 * `<server-pop3#>`, `<server-pop3-accesscontrol#>`, `<server-pop3-listener#>`,
 * `<server-pop3-listener-allowrule#>`, `<server-dnr#>` …): one generic set of verbs over the
 * config schema, editing the session's draft of the config model through config/edit.ts (so a
 * bad value is refused at once with the config file's own error) and applying it live with
 * `config.set` on COMMIT.
 *
 *   SET <attr> <value> [<attr> <value> …]   a set value as `(a b c)` or one quoted word
 *   SHOW [ATTR <attr>] | SHOW Config (server: the running config as the file writes it)
 *   SHOW <Child> [<key>] <value> [ATTR <attr>]        e.g. SHOW Listener 127.0.0.1:1110
 *   LIST <Children>                                   LIST Listeners, LIST AllowRules …
 *   ADD <Child> [<key>] <value> [<attr> <value> …]    adds it and enters its context
 *   UPDATE <Child> [<key>] <value> [<attr> <value> …] enters its context
 *   REMOVE <Child> [<key>] <value>
 *   CONFIG <object>     a service (server context: seed names, names.ts), AccessControl (a
 *                       service's rules and flow limits), or any object attribute (SSLCONTROL, DNR)
 *   COMMIT              apply the draft live (config.set) and go to the parent context
 *   DONE                keep the changes in the draft and go to the parent (not in <server#>)
 *   BACK | CANCEL       drop this context's changes and go to the parent
 *   RESET               the server's or this service's block back to the running config
 *   START|STOP Service  at once, no COMMIT (a service context)
 *   SAVE Config [path]  the running config to its file (config.save)
 *
 * Exports: `enterServer(s)`, `configCommand(s, frame, verb, words)` (undefined: not a verb of
 * these contexts), `CONFIG_HELP`.
 * Throws nothing (errors are -ERR answers).
 */
import {
  addObject, findObject, getAt, keyAttribute, listObjects, removeObject, replaceAt, schemaAt, setAttributes, showObject, updateObject,
  type EditPath, type EditValue,
} from '../../config/edit.ts';
import { FLOW_FIELDS, lookupAttribute, type ModelObject, type ObjectSchema } from '../../config/schema.ts';
import type { ConfigModel } from '../../config/model.ts';
import { writeConfig } from '../../config/write.ts';
import type { Verdict } from '../../session/line-session.ts';
import { cliNameOfService, serviceByCliName } from './names.ts';
import { err, ok, type CliSession, type CliState, type Frame } from './session.ts';
import { joinSet, keyword, type Word } from './words.ts';
import { adminCall, failure } from './admin.ts';

type ConfigFrame = Extract<Frame, { kind: 'config' }>;
type V = Verdict<CliState>;

const ACCESS_ATTRS = new Set<string>([...FLOW_FIELDS, 'allowRules', 'denyRules']);

export const CONFIG_HELP: Readonly<Record<string, readonly string[]>> = {
  common: [
    'SET <attr> <value> [<attr> <value> ...] - sets attributes (a set as "(a b c)")',
    'SHOW [ATTR <attr>] - shows this context\'s values',
    'LIST <Children> - lists child objects (e.g. LIST Listeners, LIST AllowRules)',
    'ADD|UPDATE <Child> [<key>] <value> [<attr> <value> ...] - adds or updates a child and enters it',
    'REMOVE <Child> [<key>] <value> - removes a child object',
    'SHOW <Child> [<key>] <value> [ATTR <attr>] - shows a child object',
    'CONFIG <object> - enters an object context (e.g. SSLCONTROL)',
    'COMMIT - applies the changes to the running server and goes to the parent context',
    'DONE - keeps the changes (COMMIT applies them later) and goes to the parent context',
    'BACK|CANCEL - drops this context\'s changes and goes to the parent context',
  ],
  server: [
    'CONFIG SMTP-INCOMING|SMTP-OUTGOING|PROCESSING|POP3|IMAP|WEBMAIL|WEBADMIN|CLI|LOG|REPORT|FTP-BACKUP|RPOP|DNR|POP3-PROXY|IMAP-PROXY|WEBMAIL-PROXY - enters a service context',
    'SHOW Config - shows the running configuration as the file writes it',
    'SAVE Config [<path>] - saves the running configuration',
    'RESET - drops every uncommitted change',
  ],
  service: [
    'START Service|STOP Service - starts or stops the service now',
    'CONFIG AccessControl - the service\'s allow/deny rules and flow limits',
    'SAVE Config [<path>] - saves the running configuration',
    'RESET - this service back to the running configuration',
  ],
  access: [],
  object: [],
};

/** CONFIG SERVER from the root: a fresh draft of the running config. */
export async function enterServer(s: CliSession): Promise<V> {
  const got = await adminCall(s, 'config.get', {});
  if (!got.ok) return failure(s, got.error);
  const draft = (got.value as { model: ConfigModel }).model;
  s.data.draft = draft;
  s.data.frames.push({ kind: 'config', name: 'server', view: 'server', path: [], service: null, saved: draft });
  return ok(s, 'entered the server context');
}

function schemaOf(f: ConfigFrame): ObjectSchema {
  return schemaAt(f.path);
}

/** The object set a child word names (`Listener` → `listeners`) in this context, or undefined. */
function childSet(f: ConfigFrame, word: string, plural: boolean): string | undefined {
  const schema = schemaOf(f);
  const w = word.toLowerCase();
  const names = plural ? [w, `${w}s`] : [`${w}s`, w];
  for (const n of names) {
    const key = lookupAttribute(schema, n);
    if (key === undefined || schema.attributes[key]!.type !== 'objectSet') continue;
    if (f.view === 'access' && !ACCESS_ATTRS.has(key)) continue;
    if (f.view === 'service' && (key === 'allowRules' || key === 'denyRules')) continue; // (in AccessControl)
    return key;
  }
  return undefined;
}

/** `[<key>] <value>` then pairs; the key attribute's name is optional. */
function keyed(words: readonly Word[], key: string): { value: string; pairs: Array<[string, EditValue]> } | string {
  let i = 0;
  if (words.length >= 2 && keyword(words[0]) === key.toUpperCase()) i = 1;
  const v = words[i];
  if (v === undefined) return `missing the ${key}`;
  const rest = pairs(words, i + 1);
  if (typeof rest === 'string') return rest;
  return { value: v.text, pairs: rest };
}

/** `<attr> <value> …`. */
export function pairs(words: readonly Word[], from = 0): Array<[string, EditValue]> | string {
  const out: Array<[string, EditValue]> = [];
  let i = from;
  while (i < words.length) {
    const name = words[i]!;
    if (name.quoted) return `"${name.text}" is not an attribute name`;
    if (i + 1 >= words.length) return `missing a value for ${name.text}`;
    const [v, next] = joinSet(words, i + 1);
    out.push([name.text, v]);
    i = next;
  }
  return out;
}

function setDraft(s: CliSession, m: ConfigModel): void {
  s.data.draft = m;
}

function draft(s: CliSession): ConfigModel {
  return s.data.draft ?? {};
}

function lines(s: CliSession, title: string, attrs: readonly { name: string; text: string }[]): string[] {
  const body = attrs.filter((a) => a.text !== '').map((a) => `${a.name} = ${a.text}`);
  if (s.data.quiet) return body;
  const rule = '-'.repeat(Math.max(title.length, 8));
  return [title, rule, ...body, rule];
}

function contextName(s: CliSession): string {
  return s.data.frames.map((f) => (f.kind === 'config' ? f.name : f.kind === 'root' ? '' : f.kind)).filter((n) => n !== '').join('-');
}

function show(s: CliSession, f: ConfigFrame, words: readonly Word[]): V {
  const w0 = keyword(words[0]);
  let path: EditPath = f.path;
  let rest = words;
  let title = `the attributes of ${contextName(s)}`;
  if (w0 !== '' && w0 !== 'ATTR') {
    const set = childSet(f, words[0]!.text, false);
    if (set === undefined) return err(s, `SHOW: no child objects "${words[0]!.text}" in this context`);
    const k = keyAttribute(schemaAt([...f.path, set, 0]));
    const kv = keyed(words.slice(1), k);
    if (typeof kv === 'string') return err(s, `SHOW ${words[0]!.text}: ${kv}`);
    const at = findObject(draft(s), f.path, set, kv.value);
    if (at < 0) return err(s, `SHOW ${words[0]!.text}: no ${k} ${kv.value}`);
    const m = updateObject(draft(s), f.path, set, at, []); // (writes out a default listener)
    setDraft(s, m);
    path = [...f.path, set, at];
    rest = words.slice(words.length >= 3 && keyword(words[1]) === k.toUpperCase() ? 3 : 2); // after [<key>] <value>
    title = `the attributes of ${words[0]!.text.toLowerCase()} ${kv.value}`;
  }
  let shown = showObject(draft(s), path);
  if (path === f.path && f.view === 'access') shown = shown.filter((a) => ACCESS_ATTRS.has(a.name));
  if (keyword(rest[0]) === 'ATTR') {
    const want = rest[1]?.text;
    if (want === undefined) return err(s, 'SHOW ATTR: missing the attribute name');
    const a = shown.find((x) => x.name.toLowerCase() === want.toLowerCase());
    if (a === undefined) return err(s, `SHOW ATTR: no attribute ${want} in this context`);
    return ok(s, 'attribute shown', [`${a.name} = ${a.text}`]);
  }
  if (rest.length > 0) return err(s, `SHOW: unexpected "${rest[0]!.text}"`);
  return ok(s, 'attributes shown', lines(s, title, shown));
}

async function showConfig(s: CliSession): Promise<V> {
  const got = await adminCall(s, 'config.get', {});
  if (!got.ok) return failure(s, got.error);
  const text = writeConfig((got.value as { model: ConfigModel }).model);
  return ok(s, 'the running configuration', text.replace(/\n$/, '').split('\n'));
}

function list(s: CliSession, f: ConfigFrame, words: readonly Word[]): V {
  if (words.length !== 1) return err(s, 'LIST takes the name of a child list (e.g. LIST Listeners)');
  const set = childSet(f, words[0]!.text, true);
  if (set === undefined) return err(s, `LIST: no child objects "${words[0]!.text}" in this context`);
  const schema = schemaAt([...f.path, set, 0]);
  const k = keyAttribute(schema);
  const cols = [k, ...['enable', 'priority'].filter((c) => c in schema.attributes)];
  const def = (c: string): string => {
    const spec = schema.attributes[c];
    return spec !== undefined && 'default' in spec ? String(spec.default) : '';
  };
  const cell = (o: ModelObject, c: string): string => {
    const v = o[c];
    const t = v === undefined ? def(c) : String(v);
    return t === 'true' ? 'yes' : t === 'false' ? 'no' : t;
  };
  const rows = listObjects(draft(s), f.path, set).map((o) => cols.map((c) => cell(o, c)));
  const headings = cols;
  const out = s.data.quiet ? rows.map((r) => r.join(' | ')) : [`the ${set} of ${contextName(s)}`, '-'.repeat(40), headings.join(' | '), '-'.repeat(40), '', ...rows.map((r) => r.join(' | ')), '-'.repeat(40)];
  return ok(s, `${rows.length} ${set} listed`, out);
}

function childName(set: string): string {
  return set.replace(/s$/, '').toLowerCase();
}

function addOrUpdate(s: CliSession, f: ConfigFrame, verb: 'ADD' | 'UPDATE', words: readonly Word[]): V {
  const w = words[0];
  if (w === undefined) return err(s, `${verb} needs a child object (e.g. ${verb} Listener <address>)`);
  const set = childSet(f, w.text, false);
  if (set === undefined) return err(s, `${verb}: no child objects "${w.text}" in this context`);
  const k = keyAttribute(schemaAt([...f.path, set, 0]));
  const kv = keyed(words.slice(1), k);
  if (typeof kv === 'string') return err(s, `${verb} ${w.text}: ${kv}`);
  const before = draft(s);
  let index: number;
  if (verb === 'ADD') {
    if (findObject(before, f.path, set, kv.value) >= 0) return err(s, `ADD ${w.text}: there is already one with ${k} ${kv.value}`);
    const r = addObject(before, f.path, set, [[k, kv.value], ...kv.pairs]);
    setDraft(s, r.model);
    index = r.index;
  } else {
    index = findObject(before, f.path, set, kv.value);
    if (index < 0) return err(s, `UPDATE ${w.text}: no ${k} ${kv.value}`);
    setDraft(s, updateObject(before, f.path, set, index, kv.pairs));
  }
  s.data.frames.push({ kind: 'config', name: childName(set), view: 'object', path: [...f.path, set, index], service: f.service, saved: before });
  return ok(s, `${verb === 'ADD' ? 'added' : 'updating'} ${w.text.toLowerCase()} ${kv.value}: COMMIT or DONE to keep it, BACK to drop it`);
}

function remove(s: CliSession, f: ConfigFrame, words: readonly Word[]): V {
  const w = words[0];
  if (w === undefined) return err(s, 'REMOVE needs a child object (e.g. REMOVE Listener <address>)');
  const set = childSet(f, w.text, false);
  if (set === undefined) return err(s, `REMOVE: no child objects "${w.text}" in this context`);
  const k = keyAttribute(schemaAt([...f.path, set, 0]));
  const kv = keyed(words.slice(1), k);
  if (typeof kv === 'string') return err(s, `REMOVE ${w.text}: ${kv}`);
  if (kv.pairs.length > 0) return err(s, `REMOVE ${w.text}: unexpected "${kv.pairs[0]![0]}"`);
  const at = findObject(draft(s), f.path, set, kv.value);
  if (at < 0) return err(s, `REMOVE ${w.text}: no ${k} ${kv.value}`);
  setDraft(s, removeObject(draft(s), f.path, set, at));
  return ok(s, `removed ${w.text.toLowerCase()} ${kv.value} (COMMIT applies it)`);
}

function config(s: CliSession, f: ConfigFrame, words: readonly Word[]): V {
  if (words.length !== 1) return err(s, 'CONFIG takes one context name');
  const w = words[0]!.text;
  if (f.view === 'server') {
    const svc = serviceByCliName(w);
    if (svc !== undefined && lookupAttribute(schemaOf(f), svc) !== undefined) {
      s.data.frames.push({ kind: 'config', name: cliNameOfService(svc), view: 'service', path: [svc], service: svc, saved: draft(s) });
      return ok(s, `entered the ${svc} context`);
    }
  }
  if (f.view === 'service' && w.toUpperCase() === 'ACCESSCONTROL') {
    s.data.frames.push({ kind: 'config', name: 'accesscontrol', view: 'access', path: f.path, service: f.service, saved: draft(s) });
    return ok(s, 'entered the access control context');
  }
  const key = f.view === 'access' ? undefined : lookupAttribute(schemaOf(f), w);
  const spec = key === undefined ? undefined : schemaOf(f).attributes[key];
  if (key === undefined || spec?.type !== 'object') return err(s, `CONFIG: no context "${w}" here`);
  s.data.frames.push({ kind: 'config', name: key.toLowerCase(), view: 'object', path: [...f.path, key], service: f.service, saved: draft(s) });
  return ok(s, `entered the ${key} context`);
}

function set(s: CliSession, f: ConfigFrame, words: readonly Word[]): V {
  const p = pairs(words);
  if (typeof p === 'string') return err(s, `SET: ${p}`);
  if (p.length === 0) return err(s, 'SET needs <attribute> <value> pairs');
  if (f.view === 'access') {
    const bad = p.find(([n]) => !FLOW_FIELDS.some((x) => x.toLowerCase() === n.toLowerCase()));
    if (bad !== undefined) return err(s, `SET: ${bad[0]} is not an access control attribute (${FLOW_FIELDS.join(', ')})`);
  }
  setDraft(s, setAttributes(draft(s), f.path, p));
  return ok(s, `${p.length === 1 ? 'attribute' : `${p.length} attributes`} set (COMMIT applies)`);
}

function pop(s: CliSession): void {
  s.data.frames.pop();
  if (s.data.frames.every((x) => x.kind !== 'config')) s.data.draft = null;
}

async function commit(s: CliSession): Promise<V> {
  const d = draft(s);
  const got = await adminCall(s, 'config.set', { text: writeConfig(d) });
  if (!got.ok) return failure(s, got.error);
  for (const x of s.data.frames) if (x.kind === 'config') x.saved = d;
  pop(s);
  const changed = (got.value as { changed?: string[] }).changed ?? [];
  return ok(s, changed.length === 0 ? 'committed (nothing changed)' : `committed; changed: ${changed.join(', ')}`);
}

async function reset(s: CliSession, f: ConfigFrame): Promise<V> {
  if (f.view !== 'server' && f.view !== 'service') return err(s, 'RESET is for the server and service contexts');
  const got = await adminCall(s, 'config.get', {});
  if (!got.ok) return failure(s, got.error);
  const running = (got.value as { model: ConfigModel }).model;
  setDraft(s, f.view === 'server' ? running : replaceAt(draft(s), f.path, getAt(running, f.path)));
  return ok(s, 'back to the running configuration');
}

async function service(s: CliSession, f: ConfigFrame, verb: 'START' | 'STOP', words: readonly Word[]): Promise<V> {
  if (keyword(words[0]) !== 'SERVICE' || words.length !== 1) return err(s, `${verb} takes "Service" (${verb} Service)`);
  if (f.view !== 'service' || f.service === null) return err(s, `${verb} Service is for a service context`);
  const got = await adminCall(s, verb === 'START' ? 'service.start' : 'service.stop', { name: f.service });
  if (!got.ok) return failure(s, got.error);
  return ok(s, `service ${f.service} ${verb === 'START' ? 'started' : 'stopped'}`);
}

export async function saveConfig(s: CliSession, words: readonly Word[]): Promise<V> {
  if (keyword(words[0]) !== 'CONFIG' || words.length > 2) return err(s, 'SAVE takes "Config [<path>]"');
  const got = await adminCall(s, 'config.save', words[1] === undefined ? {} : { path: words[1].text });
  if (!got.ok) return failure(s, got.error);
  return ok(s, `configuration saved to ${String((got.value as { path?: unknown }).path ?? '')}`);
}

/** A verb of the config contexts, run in frame `f`; undefined when it is not one of theirs. */
export function configCommand(s: CliSession, f: ConfigFrame, verb: string, words: readonly Word[]): V | Promise<V> | undefined {
  try {
    switch (verb) {
      case 'SET': return set(s, f, words);
      case 'SHOW':
        if (f.view === 'server' && keyword(words[0]) === 'CONFIG' && words.length === 1) return showConfig(s);
        return show(s, f, words);
      case 'LIST': return list(s, f, words);
      case 'ADD': case 'UPDATE': return addOrUpdate(s, f, verb, words);
      case 'REMOVE': return remove(s, f, words);
      case 'CONFIG': return config(s, f, words);
      case 'COMMIT': return words.length > 0 ? err(s, 'COMMIT takes no arguments') : commit(s);
      case 'DONE':
        if (f.view === 'server') return err(s, 'DONE is not available in the server context: COMMIT or BACK');
        pop(s);
        return ok(s, 'changes kept (COMMIT applies them)');
      case 'BACK': case 'CANCEL':
        s.data.draft = f.saved;
        pop(s);
        return ok(s, 'back to the parent context (uncommitted changes of this context dropped)');
      case 'RESET': return reset(s, f);
      case 'START': case 'STOP': return service(s, f, verb, words);
      case 'SAVE':
        if (f.view !== 'server' && f.view !== 'service') return err(s, 'SAVE Config is for the server and service contexts');
        return saveConfig(s, words);
      default: return undefined;
    }
  } catch (e) {
    return failure(s, e);
  }
}
