/**
 * test/cli/words.test.ts: the CLI's word splitter (protocols/cli/words.ts), a table of input →
 * words: plain words, backslash escapes, 'single' and "double" quotes, joined pieces, quoted
 * words never keywords, sets spread over words; and the syntax errors.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CliSyntaxError, joinSet, keyword, splitWords } from '../../src/protocols/cli/words.ts';

test('words: escapes, quotes, joined pieces', () => {
  const cases: Array<[string, string[]]> = [
    ['', []],
    ['   ', []],
    ['LIST Domains', ['LIST', 'Domains']],
    ['  SET\tmaxErrors   5 ', ['SET', 'maxErrors', '5']],
    ['SET greetingsText hello\\ world', ['SET', 'greetingsText', 'hello world']],
    ['a\\"b a\\\\b', ['a"b', 'a\\b']],
    ["SET x 'a \"b\" \\c'", ['SET', 'x', 'a "b" \\c']],
    ['SET x "a \\"b\\" \\c \\\\"', ['SET', 'x', 'a "b" \\c \\']],
    ['pre"fix and"\'more\'', ['prefix andmore']],
    ['""', ['']],
    ["'' x", ['', 'x']],
    ['ünïcode "ü ö"', ['ünïcode', 'ü ö']],
  ];
  for (const [line, words] of cases) assert.deepEqual(splitWords(line).map((w) => w.text), words, line);
});

test('quoted words are values, never keywords; sets gather', () => {
  const w = splitWords('commit "commit" (plain login) x (a) "(b c"');
  assert.deepEqual(w.map(keyword), ['COMMIT', '', '(PLAIN', 'LOGIN)', 'X', '(A)', '']);
  assert.deepEqual(joinSet(w, 2), ['(plain login)', 4]);
  assert.deepEqual(joinSet(w, 4), ['x', 5]);
  assert.deepEqual(joinSet(w, 5), ['(a)', 6]);
  assert.deepEqual(joinSet(w, 6), ['(b c', 7], 'a quoted word is one value');
  assert.deepEqual(joinSet(splitWords('(a b'), 0), ['(a b', 2], 'an unclosed set ends with the line');
});

test('syntax errors: unterminated quotes, a trailing backslash', () => {
  for (const line of ['"open', "'open", 'a\\', 'x "a \\" b']) {
    assert.throws(() => splitWords(line), CliSyntaxError, line);
  }
});
