/**
 * test/config/edit.test.ts: config/edit.ts on the embedded default and on a minimal model:
 * attributes set with the file's validation (bad values refused with the config's codes and a
 * message naming the attribute), listeners added keeping the default one, rules added, updated,
 * found and removed, RESET of a subtree, SHOW's values with defaults, and the input never changed.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadDefault, loadConfig } from '../../src/config/load.ts';
import {
  addObject, checkModel, findObject, getAt, listObjects, removeObject, replaceAt, setAttributes, showObject, specAt, unsetAttributes, updateObject,
} from '../../src/config/edit.ts';
import { writeConfig } from '../../src/config/write.ts';
import { isPosternError } from '../../src/errors.ts';

const code = (fn: () => unknown): string => {
  try {
    fn();
  } catch (e) {
    assert.ok(isPosternError(e), String(e));
    return `${e.code}: ${e.message}`;
  }
  assert.fail('expected an error');
};

test('setAttributes validates like the file and never changes its input', () => {
  const m = loadDefault().model;
  const before = JSON.stringify(m);
  const n = setAttributes(m, ['pop3'], [['MAXERRORS', '4'], ['greetingsText', 'hello there'], ['plainConnAuthTypes', '(plain login)']]);
  assert.equal(JSON.stringify(m), before);
  const p = getAt(n, ['pop3'])!;
  assert.equal(p['maxErrors'], 4);
  assert.equal(p['greetingsText'], 'hello there');
  assert.deepEqual(p['plainConnAuthTypes'], ['plain', 'login']);
  assert.equal(loadConfig(writeConfig(n)).resolved.serviceOptions.pop3.maxErrors, 4);
  assert.match(code(() => setAttributes(m, ['pop3'], [['maxErrors', 'many']])), /^CONFIG_TYPE: Server\.pop3\.maxErrors: expected an unsigned integer, got "many"$/);
  assert.match(code(() => setAttributes(m, ['pop3'], [['noSuch', '1']])), /^CONFIG_UNKNOWN_ATTRIBUTE: unknown attribute 'noSuch'/);
  assert.match(code(() => setAttributes(m, ['pop3'], [['maxConnThreads', '1'], ['minConnThreads', '2']])), /^CONFIG_RANGE: /);
  assert.match(code(() => setAttributes(m, ['pop3'], [['listeners', 'x']])), /^CONFIG_TYPE: /);
  assert.match(code(() => setAttributes(m, ['nosuch'], [['a', 'b']])), /^CONFIG_UNKNOWN_ATTRIBUTE: /);
  const u = unsetAttributes(n, ['pop3'], ['maxerrors']);
  assert.equal(getAt(u, ['pop3'])!['maxErrors'], undefined);
});

test('listeners: an added one keeps the default listener; duplicates refused; update and remove', () => {
  const m = checkModel({ services: ['pop3'] });
  assert.deepEqual(listObjects(m, ['pop3'], 'listeners').map((l) => l['address']), ['127.0.0.1:1110']);
  const { model, index } = addObject(m, ['pop3'], 'LISTENERS', [['address', '127.0.0.1:0']]);
  assert.equal(index, 1);
  assert.deepEqual(listObjects(model, ['pop3'], 'listeners').map((l) => l['address']), ['127.0.0.1:1110', '127.0.0.1:0']);
  assert.match(code(() => addObject(model, ['pop3'], 'listeners', [['address', '127.0.0.1:1110']])), /^CONFIG_DUPLICATE: /);
  assert.match(code(() => addObject(model, ['pop3'], 'listeners', [['enable', 'no']])), /^CONFIG_MISSING: /);
  assert.match(code(() => addObject(model, ['pop3'], 'listeners', [['address', 'nowhere']])), /^CONFIG_TYPE: /);
  assert.equal(findObject(model, ['pop3'], 'listeners', '127.0.0.1:0'), 1);
  assert.equal(findObject(model, ['pop3'], 'listeners', '1.2.3.4:5'), -1);
  const off = updateObject(model, ['pop3'], 'listeners', 1, [['enable', 'no'], ['idleTimeout', '30']]);
  assert.equal(listObjects(off, ['pop3'], 'listeners')[1]!['enable'], false);
  const gone = removeObject(off, ['pop3'], 'listeners', 0);
  assert.deepEqual(listObjects(gone, ['pop3'], 'listeners').map((l) => l['address']), ['127.0.0.1:0']);
  // a rule inside a listener, by path
  const r = addObject(gone, ['pop3', 'listeners', 0], 'allowRules', [['ipSet', '10.0.0.0/8'], ['priority', '5']]);
  assert.equal(findObject(r.model, ['pop3', 'listeners', 0], 'allowRules', '10.0.0.0/8'), 0);
  assert.match(code(() => addObject(gone, ['pop3', 'listeners', 0], 'denyRules', [['ipSet', 'not-an-ip']])), /^CONFIG_TYPE: /);
  // an object attribute entered by path is created when set
  const ssl = setAttributes(gone, ['pop3', 'listeners', 0, 'sslControl'], [['allowedVersions', ['tls1_3']]]);
  assert.deepEqual((getAt(ssl, ['pop3', 'listeners', 0, 'sslControl'])!)['allowedVersions'], ['tls1_3']);
});

test('replaceAt puts back a subtree; showObject marks defaults; specAt is case-insensitive', () => {
  const m = loadDefault().model;
  const changed = setAttributes(m, ['imap'], [['maxErrors', '2']]);
  const back = replaceAt(changed, ['imap'], getAt(m, ['imap']));
  assert.deepEqual(getAt(back, ['imap']), getAt(m, ['imap']));
  const shown = showObject(changed, ['imap']);
  const me = shown.find((a) => a.name === 'maxErrors')!;
  assert.deepEqual(me, { name: 'maxErrors', text: '2', isDefault: false });
  assert.equal(shown.find((a) => a.name === 'maxAuthErrors')!.isDefault, false); // the default file writes it
  assert.equal(shown.find((a) => a.name === 'imapIdEnabled')!.isDefault, true);
  assert.equal(specAt(['imap'], 'MAXLITERALSIZE')[0], 'maxLiteralSize');
});
