/**
 * config/parse.ts: config text → an AST with the position of every name and value. Knows the
 * syntax only, never the schema (config/model.ts checks names and types).
 *
 * Grammar (seed axigen.cfg):
 *   document := topEntry* EOF          topEntry := WORD ( '=' value | object )   (`Server { … }`)
 *   entry    := WORD '=' value         value    := scalar | object | set
 *   object   := '{' entry* '}'         set      := '(' ( scalar* | object* ) ')'
 * A scalar value must start on the line of its `=` (a value cannot continue onto the next line);
 * an object or set may open on the next line. A set holds scalars or objects, never both, and
 * never another set. `()` is an empty `set`, acceptable wherever any set is expected.
 *
 * Exports: the AST types, `parse(text, sourceName?)` → the document as an `AstObject` whose
 * entries are the top-level attributes (normally one, `Server`).
 * Throws: PosternError CONFIG_SYNTAX with `details: { line, column, path }` (path '' here).
 */
import { syntaxError, tokenize } from './lexer.ts';
import type { Token } from './lexer.ts';

export interface AstPos {
  line: number;
  column: number;
}

export interface AstScalar extends AstPos {
  kind: 'scalar';
  text: string;
  /** Written in double quotes. */
  quoted: boolean;
}

export interface AstObject extends AstPos {
  kind: 'object';
  entries: AstEntry[];
}

export interface AstSet extends AstPos {
  kind: 'set';
  items: AstScalar[];
}

export interface AstObjectSet extends AstPos {
  kind: 'objectSet';
  items: AstObject[];
}

export type AstValue = AstScalar | AstObject | AstSet | AstObjectSet;

export interface AstEntry extends AstPos {
  name: string;
  value: AstValue;
}

function describe(t: Token): string {
  if (t.type === 'eof') return 'end of file';
  if (t.type === 'string') return `"${t.text}"`;
  return `'${t.text}'`;
}

export function parse(text: string, sourceName?: string): AstObject {
  const tokens = tokenize(text, sourceName);
  let pos = 0;
  const peek = (): Token => tokens[pos]!;
  const next = (): Token => tokens[pos++]!;
  const fail = (t: Token, what: string): never => {
    throw syntaxError(t.line, t.column, what, sourceName);
  };

  function parseEntries(closing: 'rbrace' | 'eof', topLevel: boolean): AstEntry[] {
    const entries: AstEntry[] = [];
    for (;;) {
      const t = peek();
      if (t.type === closing) return entries;
      if (t.type === 'eof') fail(t, "unexpected end of file: missing '}'");
      if (t.type !== 'word') fail(t, `expected an attribute name, got ${describe(t)}`);
      next();
      const after = peek();
      if (topLevel && after.type === 'lbrace') {
        entries.push({ name: t.text, line: t.line, column: t.column, value: parseObject() });
        continue;
      }
      if (after.type !== 'equals') fail(after, `expected '=' after attribute name '${t.text}', got ${describe(after)}`);
      const eq = next();
      entries.push({ name: t.text, line: t.line, column: t.column, value: parseValue(eq) });
    }
  }

  function parseObject(): AstObject {
    const open = next(); // '{'
    const entries = parseEntries('rbrace', false);
    next(); // '}'
    return { kind: 'object', entries, line: open.line, column: open.column };
  }

  function parseScalar(t: Token): AstScalar {
    return { kind: 'scalar', text: t.text, quoted: t.type === 'string', line: t.line, column: t.column };
  }

  function parseValue(eq: Token): AstValue {
    const t = peek();
    if (t.type === 'lbrace') return parseObject();
    if (t.type === 'lparen') return parseSet();
    if (t.type === 'word' || t.type === 'string') {
      if (t.line !== eq.line) fail(t, 'missing value after \'=\' (a value cannot continue onto the next line)');
      next();
      return parseScalar(t);
    }
    return fail(t, `expected a value after '=', got ${describe(t)}`);
  }

  function parseSet(): AstSet | AstObjectSet {
    const open = next(); // '('
    const scalars: AstScalar[] = [];
    const objects: AstObject[] = [];
    for (;;) {
      const t = peek();
      if (t.type === 'rparen') {
        next();
        break;
      }
      if (t.type === 'word' || t.type === 'string') {
        if (objects.length > 0) fail(t, 'a set holds either values or objects, not both');
        scalars.push(parseScalar(next()));
      } else if (t.type === 'lbrace') {
        if (scalars.length > 0) fail(t, 'a set holds either values or objects, not both');
        objects.push(parseObject());
      } else if (t.type === 'lparen') {
        fail(t, 'a set cannot contain another set');
      } else if (t.type === 'eof') {
        fail(t, "unexpected end of file: missing ')'");
      } else {
        fail(t, `unexpected ${describe(t)} inside a set`);
      }
    }
    if (objects.length > 0) return { kind: 'objectSet', items: objects, line: open.line, column: open.column };
    return { kind: 'set', items: scalars, line: open.line, column: open.column };
  }

  const entries = parseEntries('eof', true);
  return { kind: 'object', entries, line: 1, column: 1 };
}
