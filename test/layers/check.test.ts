/**
 * test/layers/check.test.ts: the layer check (`npm run lint:deps`, .dependency-cruiser.cjs)
 * fails on a bad import. dependency-cruiser runs with the project's own rules file on the
 * fixture tree test/fixtures/layers/, which holds one bad import per rule and a few good ones:
 * the check exits non-zero and names exactly the bad imports, each with its rule.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '../..');
const DEPCRUISE = path.join(ROOT, 'node_modules/dependency-cruiser/bin/dependency-cruiser.mjs');
const RULES = path.join(ROOT, '.dependency-cruiser.cjs');
const FIXTURE = path.join(ROOT, 'test/fixtures/layers');

function cruise(cwd: string, ...roots: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [DEPCRUISE, '--config', RULES, '--output-type', 'err', ...roots], { cwd, timeout: 60_000 }, (e, stdout, stderr) => {
      resolve({ code: e === null ? 0 : Number(e.code), out: stdout + stderr });
    });
  });
}

test('layer check: each bad import in the fixture fails, naming its rule; the good ones pass', async () => {
  const r = await cruise(FIXTURE, 'src', 'actors');
  assert.notEqual(r.code, 0, r.out);
  // "error RULE: FROM → TO"; a cycle's next module is on the following line.
  const found = [...r.out.matchAll(/error ([\w-]+): (\S+) →\s*(\S+)/g)].map((m) => `${m[1]}: ${m[2]} → ${m[3]}`).sort();
  assert.deepEqual(found, [
    'auth-imports-no-service: src/auth/login.ts → src/protocols/smtp/smtp.ts',
    'ground-imports-only-the-ground: src/config/store.ts → src/store/ok.ts',
    'middle-imports-no-service-or-auth: src/session/login.ts → src/auth/login.ts',
    'no-circular: src/store/cycle-a.ts → src/store/cycle-b.ts',
    'services-are-independent: src/protocols/pop3/pop3.ts → src/protocols/smtp/smtp.ts',
    'src-does-not-import-the-top: src/net/top.ts → actors/host.ts',
    'src-in-a-layer: src/extras/extra.ts → src/errors.ts',
    'store-imports-only-the-ground: src/store/up.ts → src/protocols/pop3/pop3.ts',
  ], r.out);
});
