/**
 * config/write.ts: a config model → config text in the seed syntax (`Server { … }`, 4-space
 * indentation, one attribute a line, sets of objects one object per block), for SAVE CONFIG.
 * Attributes come out in the model's order (the file's order for a parsed model). STRING and
 * CS_STRING values are always quoted (as the seed's own files do); other values only when
 * they need it (empty, or containing whitespace, `{ } ( ) = " # \` or `/*`). Comments are not
 * kept. `parse` → `validate` of the output yields a model deep-equal to the input.
 *
 * Exports: `writeConfig(model)`, `formatValue(value, spec?)`.
 * Throws: PosternError CONFIG_TYPE for a string holding a line break (a value cannot span lines).
 */
import { PosternError } from '../errors.ts';
import type { ConfigModel } from './model.ts';
import { SERVER_SCHEMA } from './schema.ts';
import type { AttrSpec, ModelObject, ModelScalar, ModelValue, ObjectSchema } from './schema.ts';

const INDENT = '    ';

function needsQuotes(s: string): boolean {
  return s === '' || /[\s{}()="#\\]/.test(s) || s.includes('/*');
}

function quote(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** One scalar as written in the file; `spec` decides whether a string is always quoted. */
export function formatValue(v: ModelScalar, spec?: AttrSpec): string {
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  if (typeof v === 'number') return String(v);
  if (/[\r\n]/.test(v)) throw new PosternError('CONFIG_TYPE', `a config value cannot contain a line break: ${JSON.stringify(v)}`);
  const always = spec !== undefined && (spec.type === 'string' || spec.type === 'csString');
  return always || needsQuotes(v) ? quote(v) : v;
}

function isObject(v: ModelValue): v is ModelObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function childSchema(spec: AttrSpec | undefined): ObjectSchema | undefined {
  return spec?.type === 'object' || spec?.type === 'objectSet' ? spec.schema : undefined;
}

function writeEntries(obj: ModelObject, schema: ObjectSchema | undefined, depth: number, out: string[]): void {
  const pad = INDENT.repeat(depth);
  for (const [name, v] of Object.entries(obj)) {
    if (v === undefined) continue;
    const spec = schema?.attributes[name];
    if (Array.isArray(v)) {
      if (v.length > 0 && isObject(v[0]!)) {
        out.push(`${pad}${name} = (`);
        for (const item of v as ModelObject[]) {
          out.push(`${pad}${INDENT}{`);
          writeEntries(item, childSchema(spec), depth + 2, out);
          out.push(`${pad}${INDENT}}`);
        }
        out.push(`${pad})`);
      } else {
        const of = spec?.type === 'set' ? spec.of : undefined;
        out.push(`${pad}${name} = (${(v as ModelScalar[]).map((x) => formatValue(x, of)).join(' ')})`);
      }
    } else if (isObject(v)) {
      out.push(`${pad}${name} = {`);
      writeEntries(v, childSchema(spec), depth + 1, out);
      out.push(`${pad}}`);
    } else {
      out.push(`${pad}${name} = ${formatValue(v, spec)}`);
    }
  }
}

export function writeConfig(model: ConfigModel): string {
  const out = ['Server {'];
  writeEntries(model, SERVER_SCHEMA, 1, out);
  out.push('}');
  return `${out.join('\n')}\n`;
}
