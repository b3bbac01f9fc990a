/**
 * test/actor/helpers.ts: shared test helpers for the actor suite (not a test file itself).
 *
 * Exports: `sleep`, `waitUntil` (poll a condition, ref'd timers so the test keeps running),
 * `guardProcess` (collect uncaught exceptions / unhandled rejections; `check()` asserts none),
 * `manualClock` (a supervisor clock that moves only when the test says).
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

/** A `SupervisorClock` that stands still until `advance(ms)`, which runs the timers due in
 * time order (each sees `now()` at its own due time). `pending()` lists the time left on each
 * timer, soonest first. */
export function manualClock(): {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  advance(ms: number): void;
  pending(): number[];
} {
  let now = 0;
  let seq = 0;
  const timers = new Map<number, { at: number; fn: () => void }>();
  const next = (until: number): number | undefined => {
    let best: number | undefined;
    for (const [id, t] of timers) if (t.at <= until && (best === undefined || t.at < timers.get(best)!.at)) best = id;
    return best;
  };
  return {
    now: () => now,
    setTimeout(fn, ms) {
      timers.set(++seq, { at: now + Math.max(0, ms), fn });
      return seq;
    },
    clearTimeout(handle) {
      timers.delete(handle as number);
    },
    advance(ms) {
      const until = now + ms;
      for (let id = next(until); id !== undefined; id = next(until)) {
        const t = timers.get(id)!;
        timers.delete(id);
        now = t.at;
        t.fn();
      }
      now = until;
    },
    pending: () => [...timers.values()].map((t) => t.at - now).sort((a, b) => a - b),
  };
}
