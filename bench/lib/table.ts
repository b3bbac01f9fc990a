/**
 * bench/lib/table.ts: output shared by the benches: an aligned text table and the one JSON line
 * a bench ends with (bench/run-all.ts collects the last line of each bench).
 *
 * Exports: `printTable(title, columns, rows)`, `printJsonLine(obj)`, `formatCell(v)`, types
 * `Column`, `Cell`, `Headline`, `TargetTest`; `ratioOf(h)`, `targetMet(h)`.
 *
 * Headlines: every bench puts, in its JSON line, `headline: Headline[]`: one row per figure the
 * summary table of `npm run bench` shows (bench/run-all.ts runs each bench `--repeat` times and
 * prints best and median of each row). A row is one run's value for Postern and, where the bench
 * has one, its peer's from the same run. Numbers are printed with thousands separators (en-US, at most 3 decimals);
 * null/undefined print as "-". Number columns are right-aligned, text columns left-aligned,
 * unless a column says otherwise. Throws nothing.
 */

export type Cell = string | number | boolean | null | undefined;
export type Column = string | { name: string; align?: 'left' | 'right' };

export function formatCell(v: Cell): string {
  if (v === null || v === undefined) return '-';
  if (typeof v === 'number') return Number.isFinite(v) ? v.toLocaleString('en-US', { maximumFractionDigits: 3 }) : String(v);
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  return v;
}

/** Print `title`, a header, a rule and the rows, columns aligned (to stdout). */
export function printTable(title: string, columns: readonly Column[], rows: readonly (readonly Cell[])[]): void {
  const names = columns.map((c) => (typeof c === 'string' ? c : c.name));
  const cells = rows.map((r) => names.map((_n, i) => formatCell(r[i])));
  const align = columns.map((c, i): 'left' | 'right' => {
    if (typeof c !== 'string' && c.align !== undefined) return c.align;
    const vals = rows.map((r) => r[i]).filter((v) => v !== null && v !== undefined);
    return vals.length > 0 && vals.every((v) => typeof v === 'number') ? 'right' : 'left';
  });
  const widths = names.map((n, i) => Math.max(n.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: readonly string[]): string =>
    c
      .map((x, i) => (align[i] === 'right' ? x.padStart(widths[i]!) : x.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  const out: string[] = [];
  if (title !== '') out.push(title);
  out.push(line(names), widths.map((w) => '-'.repeat(w)).join('  '));
  for (const c of cells) out.push(line(c));
  console.log(out.join('\n'));
}

/** Print `obj` as exactly one line of JSON (the last line a bench prints). */
export function printJsonLine(obj: unknown): void {
  console.log(JSON.stringify(obj));
}

/** A target on a headline: on the ratio Postern ÷ peer, or on Postern's own value. */
export interface TargetTest {
  /** What the issue says, e.g. "≥ 0.5 × smtp-sink" or "≤ 150 MB". */
  text: string;
  ratio?: { op: '>=' | '<='; value: number };
  value?: { op: '>=' | '<='; value: number };
}

/** One figure of one run, for the summary table of `npm run bench`. */
export interface Headline {
  /** What was measured, e.g. "SMTP in, 4 KiB, 20 sessions". */
  workload: string;
  /** Unit of `postern` and `peerValue`, e.g. "msg/s", "MB", "ms CPU/msg". */
  unit: string;
  /** Which way is better: decides "best" over repeated runs. */
  better: 'higher' | 'lower';
  postern: number | null;
  /** The peer's name with its version where known, e.g. "smtp-sink (Postfix 3.7)". */
  peer?: string;
  peerValue?: number | null;
  target?: TargetTest;
}

/** Postern ÷ peer, or null when either is missing or the peer's value is 0. */
export function ratioOf(h: Pick<Headline, 'postern' | 'peerValue'>): number | null {
  if (h.postern === null || h.peerValue === null || h.peerValue === undefined || h.peerValue === 0) return null;
  return h.postern / h.peerValue;
}

/** Whether `h` meets its target (null: no target, or a figure is missing). */
export function targetMet(h: Headline): boolean | null {
  const t = h.target;
  if (t === undefined) return null;
  const test = (x: number | null, c: { op: '>=' | '<='; value: number }): boolean | null =>
    x === null ? null : c.op === '>=' ? x >= c.value : x <= c.value;
  const parts: (boolean | null)[] = [];
  if (t.ratio !== undefined) parts.push(test(ratioOf(h), t.ratio));
  if (t.value !== undefined) parts.push(test(h.postern, t.value));
  if (parts.length === 0 || parts.includes(null)) return null;
  return parts.every((p) => p === true);
}
