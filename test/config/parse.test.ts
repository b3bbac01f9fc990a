/**
 * test/config/parse.test.ts: the config lexer and parser: table of inputs → AST shape,
 * positions, table of syntax errors → line/column, and random input never throwing anything
 * but CONFIG_SYNTAX.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parse } from '../../src/config/parse.ts';
import type { AstObject, AstValue } from '../../src/config/parse.ts';
import { isPosternError } from '../../src/errors.ts';
import { EXAMPLE, catchError, prng } from './fixtures.ts';

type Simple = string | { q: string } | Simple[] | { objects: Simple[] } | Array<[string, Simple]>;

/** The AST without positions: object → [name, value] pairs; quoted scalar → { q }. */
function simple(v: AstValue): Simple {
  switch (v.kind) {
    case 'scalar': return v.quoted ? { q: v.text } : v.text;
    case 'set': return v.items.map(simple);
    case 'objectSet': return { objects: v.items.map(simple) };
    case 'object': return v.entries.map((e): [string, Simple] => [e.name, simple(e.value)]);
  }
}

const root = (text: string): Simple => simple(parse(text));

const CASES: Array<[string, string, Simple]> = [
  ['empty file', '', []],
  ['only comments', '# a\n/* b\n c */\n', []],
  ['empty root', 'Server { }', [['Server', []]]],
  ['root with =', 'Server = { a = b }', [['Server', [['a', 'b']]]]],
  ['no spaces around =', 'Server{a=b c=d}', [['Server', [['a', 'b'], ['c', 'd']]]]],
  ['two entries on one line', 'Server { a = 1 b = 2 }', [['Server', [['a', '1'], ['b', '2']]]]],
  ['hash comment ends a word', 'Server { a = b#c\n d = e }', [['Server', [['a', 'b'], ['d', 'e']]]]],
  ['block comment ends a word', 'Server { a = b/*c*/ d = e }', [['Server', [['a', 'b'], ['d', 'e']]]]],
  ['multi-line block comment', 'Server {\n/* x\n y = z\n*/ a = b }', [['Server', [['a', 'b']]]]],
  ['slash inside a word', 'Server { a = 10.0.0.0/8 }', [['Server', [['a', '10.0.0.0/8']]]]],
  ['quoted with spaces and #', 'Server { a = "x y # z" }', [['Server', [['a', { q: 'x y # z' }]]]]],
  ['quote and backslash escapes', 'Server { a = "say \\"hi\\" \\\\ ok" }', [['Server', [['a', { q: 'say "hi" \\ ok' }]]]]],
  ['other backslashes kept', 'Server { a = "C:\\dir\\n" }', [['Server', [['a', { q: 'C:\\dir\\n' }]]]]],
  ['empty quoted string', 'Server { a = "" }', [['Server', [['a', { q: '' }]]]]],
  ['comment markers inside quotes', 'Server { a = "/* # */" }', [['Server', [['a', { q: '/* # */' }]]]]],
  ['set of values', 'Server { s = (pop3 smtp "a b") }', [['Server', [['s', ['pop3', 'smtp', { q: 'a b' }]]]]]],
  ['empty set', 'Server { s = ( ) }', [['Server', [['s', []]]]]],
  ['set over lines', 'Server { s = (\n a\n b\n) }', [['Server', [['s', ['a', 'b']]]]]],
  ['object value', 'Server { o = { a = b } }', [['Server', [['o', [['a', 'b']]]]]]],
  ['object opening on the next line', 'Server { o =\n { a = b } }', [['Server', [['o', [['a', 'b']]]]]]],
  ['set of objects', 'Server { l = ( { a = 1 } { a = 2 } ) }', [['Server', [['l', { objects: [[['a', '1']], [['a', '2']]] }]]]]],
  ['nested sets of objects and values', 'Server { l = ( { r = ( { s = (x y) } ) } ) }',
    [['Server', [['l', { objects: [[['r', { objects: [[['s', ['x', 'y']]]] }]]] }]]]]],
  ['CRLF line endings', 'Server {\r\n a = b\r\n}\r\n', [['Server', [['a', 'b']]]]],
  ['byte-order mark', '\ufeffServer { }', [['Server', []]]],
  ['IPv6 values', 'Server { a = [::1]:25 b = fe80::1-fe80::ff }', [['Server', [['a', '[::1]:25'], ['b', 'fe80::1-fe80::ff']]]]],
];

for (const [name, text, expected] of CASES) {
  test(`parse: ${name}`, () => assert.deepEqual(root(text), expected));
}

test('parse: positions of names and values are 1-based line and column', () => {
  const doc = parse('# c\nServer {\n    pop3 = {\n        maxErrors = "abc"\n    }\n}\n');
  const server = doc.entries[0]!;
  assert.deepEqual([server.name, server.line, server.column], ['Server', 2, 1]);
  const pop3 = (server.value as AstObject).entries[0]!;
  assert.deepEqual([pop3.line, pop3.column, pop3.value.line, pop3.value.column], [3, 5, 3, 12]);
  const me = (pop3.value as AstObject).entries[0]!;
  assert.deepEqual([me.line, me.column, me.value.line, me.value.column], [4, 9, 4, 21]);
  assert.equal(me.value.kind === 'scalar' && me.value.quoted, true);
});

test('parse: the seed-style example parses', () => {
  const doc = parse(EXAMPLE);
  assert.equal(doc.entries.length, 1);
  assert.equal(doc.entries[0]!.name, 'Server');
});

const ERRORS: Array<[string, string, number, number]> = [
  ['unterminated string', 'Server {\n  a = "abc\n}', 2, 7],
  ['unterminated string at end of file', 'Server { a = "abc', 1, 14],
  ['unterminated block comment', 'Server {\n /* x\n', 2, 2],
  ['missing =', 'Server {\n  a b\n}', 2, 5],
  ['value on the next line', 'Server {\n  a =\n  b\n}', 3, 3],
  ['= with no value', 'Server { a = }', 1, 14],
  ['two = ', 'Server { a = = b }', 1, 14],
  ['missing closing brace', 'Server {\n a = b\n', 3, 1],
  ['missing closing paren', 'Server { s = (a b', 1, 18],
  ['stray closing brace', 'Server { } }', 1, 12],
  ['values and objects mixed in a set', 'Server { s = ( a { } ) }', 1, 18],
  ['objects then values in a set', 'Server { s = ( { } a ) }', 1, 20],
  ['set inside a set', 'Server { s = ( ( a ) ) }', 1, 16],
  ['= inside a set', 'Server { s = ( a = ) }', 1, 18],
  ['quoted attribute name', 'Server { "a" = b }', 1, 10],
  ['nested object without =', 'Server { o { } }', 1, 12],
];

for (const [name, text, line, column] of ERRORS) {
  test(`parse error: ${name}`, () => {
    const e = catchError(() => parse(text));
    assert.equal(e.code, 'CONFIG_SYNTAX');
    assert.deepEqual([e.details?.['line'], e.details?.['column']], [line, column]);
    assert.match(e.message, new RegExp(`^line ${line}, column ${column}: `));
  });
}

test('parse error: the source name prefixes the message', () => {
  const e = catchError(() => parse('Server {', '/etc/postern.cfg'));
  assert.match(e.message, /^\/etc\/postern\.cfg: line 1, column 9: /);
  assert.equal(e.details?.['source'], '/etc/postern.cfg');
});

test('parse: random input either parses or throws CONFIG_SYNTAX (property, seeded)', () => {
  const parts = ['Server', ' ', '\n', '{', '}', '(', ')', '=', '"', '\\', '#', '/*', '*/', 'a', '1', 'x y', '\r\n'];
  const rnd = prng(42);
  for (let i = 0; i < 2000; i++) {
    let text = '';
    const n = Math.floor(rnd() * 30);
    for (let j = 0; j < n; j++) text += parts[Math.floor(rnd() * parts.length)];
    try {
      parse(text);
    } catch (e) {
      assert.ok(isPosternError(e, 'CONFIG_SYNTAX'), `input ${JSON.stringify(text)} threw ${String(e)}`);
      const { line, column } = e.details as { line: number; column: number };
      assert.ok(line >= 1 && column >= 1);
    }
  }
});
