/**
 * test/store/msgpackr-native.test.ts: the store's msgpack codec runs with msgpackr's native
 * extractor. `npm ci` installs the prebuilt binary from the lockfile's platform package
 * (`@msgpackr-extract/msgpackr-extract-linux-x64` or `-linux-arm64`); msgpackr-extract's own
 * install script is denied in package.json's `allowScripts` (it would only build what the
 * platform package already ships), so npm prints no warning and nothing is compiled.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { packr } from '../../src/store/record.ts';

const require = createRequire(import.meta.url);

test('msgpackr: native acceleration is on, from the platform package in the lockfile', () => {
  const msgpackr = require('msgpackr') as { isNativeAccelerationEnabled: boolean };
  assert.equal(msgpackr.isNativeAccelerationEnabled, true, 'msgpackr-extract did not load: run npm ci');
  const platformPkg = `@msgpackr-extract/msgpackr-extract-${process.platform}-${process.arch}/package.json`;
  const pkg = JSON.parse(fs.readFileSync(require.resolve(platformPkg, { paths: [path.dirname(require.resolve('msgpackr-extract/package.json', { paths: [path.dirname(require.resolve('msgpackr'))] }))] }), 'utf8')) as { version: string };
  const lock = JSON.parse(fs.readFileSync(new URL('../../package-lock.json', import.meta.url), 'utf8')) as { packages: Record<string, { version?: string }> };
  const locked = Object.entries(lock.packages).find(([k]) => k.endsWith(`/${platformPkg.replace('/package.json', '')}`));
  assert.ok(locked !== undefined, `${platformPkg} is not in package-lock.json`);
  assert.equal(pkg.version, locked[1].version);
});

test('msgpackr: the store codec round-trips strings long enough for the native extractor', () => {
  // msgpackr hands strings of 64+ bytes to the extractor; mixed scripts and an astral character.
  const v = { s: 'Ünïcødé 𝄞 '.repeat(40), n: [1, -2, 2 ** 40, 0.5], b: Buffer.from('raw bytes'), nested: { k: 'x'.repeat(300) } };
  assert.deepEqual(packr.unpack(packr.pack(v)), v);
});
