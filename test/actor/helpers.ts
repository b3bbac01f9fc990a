/**
 * test/actor/helpers.ts: shared test helpers for the actor suite (not a test file itself).
 *
 * Exports: `sleep`, `waitUntil` (poll a condition, ref'd timers so the test keeps running),
 * `guardProcess` (collect uncaught exceptions / unhandled rejections; `check()` asserts none).
 * Throws: `waitUntil` → Error when the condition stays false past its timeout.
 */
import assert from 'node:assert/strict';

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export async function waitUntil(cond: () => boolean, timeoutMs = 2000, what = 'condition'): Promise<void> {
  const end = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(2);
  }
}

export function guardProcess(): { check(): Promise<void> } {
  const seen: unknown[] = [];
  const onErr = (e: unknown): void => {
    seen.push(e);
  };
  process.on('uncaughtException', onErr);
  process.on('unhandledRejection', onErr);
  return {
    async check(): Promise<void> {
      await sleep(5); // let any stray rejection surface
      process.off('uncaughtException', onErr);
      process.off('unhandledRejection', onErr);
      assert.deepEqual(seen, [], 'no uncaught exception or unhandled rejection');
    },
  };
}
