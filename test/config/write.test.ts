/**
 * test/config/write.test.ts: writeConfig: quoting, layout, and the round trip
 * parse → validate → write → parse → validate on the example, the embedded default and random
 * models generated from the schema (seeded).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_CONFIG_TEXT } from '../../src/config/default.ts';
import { resolve, validate } from '../../src/config/model.ts';
import type { ConfigModel } from '../../src/config/model.ts';
import { parse } from '../../src/config/parse.ts';
import { formatValue, writeConfig } from '../../src/config/write.ts';
import { EXAMPLE, catchError, genModel } from './fixtures.ts';

const read = (text: string): ConfigModel => validate(parse(text));

function roundTrip(model: ConfigModel): ConfigModel {
  const text = writeConfig(model);
  try {
    return read(text);
  } catch (e) {
    assert.fail(`written text did not load: ${String(e)}\n${text}`);
  }
}

test('round trip: the seed-style example', () => {
  const model = read(EXAMPLE);
  assert.deepEqual(roundTrip(model), model);
});

test('round trip: the embedded default', () => {
  const model = read(DEFAULT_CONFIG_TEXT);
  assert.deepEqual(roundTrip(model), model);
});

test('round trip: random models generated from the schema (property, seeded)', () => {
  for (let seed = 1; seed <= 60; seed++) {
    const model = genModel(seed);
    assert.deepEqual(roundTrip(model), model, `seed ${seed}`);
    resolve(model);
  }
});

test('layout: Server root, 4-space indentation, one object per block in a set', () => {
  const text = writeConfig(read(EXAMPLE));
  const lines = text.split('\n');
  assert.equal(lines[0], 'Server {');
  assert.equal(lines[1], '    services = (pop3 smtpIncoming processing)');
  assert.equal(lines[2], '    primaryDomain = "example.org"');
  assert.ok(lines.includes('        listeners = ('));
  assert.ok(lines.includes('            {'));
  assert.ok(lines.includes('                address = 127.0.0.1:1110'));
  assert.ok(lines.includes('                enable = yes'));
  assert.ok(lines.includes('                ipSet = 10.0.0.1-10.0.0.20'));
  assert.equal(text.endsWith('}\n'), true);
});

test('IPv6 listener addresses are written bracketed and reload', () => {
  const model = read('Server { pop3 = { listeners = ( { address = [::1]:1110 } ) } }');
  assert.match(writeConfig(model), /address = \[::1\]:1110/);
  assert.deepEqual(roundTrip(model), model);
});

const FORMAT: Array<[string | number | boolean, string]> = [
  [true, 'yes'],
  [false, 'no'],
  [42, '42'],
  ['plain', 'plain'],
  ['127.0.0.1:25', '127.0.0.1:25'],
  ['', '""'],
  ['a b', '"a b"'],
  ['a#b', '"a#b"'],
  ['say "hi"', '"say \\"hi\\""'],
  ['C:\\dir', '"C:\\\\dir"'],
  ['x/*y', '"x/*y"'],
  ['a=b', '"a=b"'],
  ['(x)', '"(x)"'],
];
for (const [value, written] of FORMAT) {
  test(`formatValue: ${JSON.stringify(value)} → ${written}`, () => assert.equal(formatValue(value), written));
}

test('STRING and CS_STRING values are always quoted', () => {
  const text = writeConfig({ primaryDomain: 'example.org', dataDir: '/var/lib/postern' });
  assert.match(text, /primaryDomain = "example\.org"/);
  assert.match(text, /dataDir = "\/var\/lib\/postern"/);
});

test('a string with a line break cannot be written', () => {
  assert.equal(catchError(() => writeConfig({ primaryDomain: 'a\nb' })).code, 'CONFIG_TYPE');
});
