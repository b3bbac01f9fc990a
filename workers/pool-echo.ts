/**
 * workers/pool-echo.ts: a piscina task for bench/actors.ts: returns its input unchanged.
 * Throws nothing.
 */
export default function echo<T>(x: T): T {
  return x;
}
