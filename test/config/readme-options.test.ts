/**
 * test/config/readme-options.test.ts: every attribute the config schema accepts (Server,
 * service blocks, listeners, rules, sslControl, statusControl) is documented in the README and
 * named by at least one other test file, so that an option cannot be added without its
 * documentation and a test (the test that trips it is reviewed by hand; this keeps the list
 * from silently growing past the tests).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SERVER_SCHEMA, serviceDefs } from '../../src/config/schema.ts';
import type { ObjectSchema } from '../../src/config/schema.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const self = fileURLToPath(import.meta.url);

function attributes(schema: ObjectSchema, out: Set<string>, seen = new Set<ObjectSchema>()): Set<string> {
  if (seen.has(schema)) return out;
  seen.add(schema);
  for (const [name, spec] of Object.entries(schema.attributes)) {
    if (spec.type === 'object' || spec.type === 'objectSet') attributes(spec.schema, out, seen);
    out.add(name);
  }
  return out;
}

function testFiles(dir: string, out: string[] = []): string[] {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) testFiles(p, out);
    else if (/\.ts$/.test(e.name) && p !== self) out.push(p);
  }
  return out;
}

test('every config attribute is in the README and in a test', () => {
  const services = new Set(serviceDefs().map((d) => d.name));
  const names = [...attributes(SERVER_SCHEMA, new Set())].filter((n) => !services.has(n as never));
  const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
  const tests = testFiles(path.join(root, 'test')).map((f) => fs.readFileSync(f, 'utf8').toLowerCase());
  const undocumented = names.filter((n) => !readme.includes(n));
  const untested = names.filter((n) => !tests.some((t) => t.includes(n.toLowerCase())));
  assert.deepEqual(undocumented, [], 'attributes missing from README.md');
  assert.deepEqual(untested, [], 'attributes no test names');
});
