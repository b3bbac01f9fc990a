/**
 * bench/lib/table.ts: output shared by the benches: an aligned text table and the one JSON line
 * a bench ends with (bench/run-all.ts collects the last line of each bench).
 *
 * Exports: `printTable(title, columns, rows)`, `printJsonLine(obj)`, `formatCell(v)`, types
 * `Column`, `Cell`. Numbers are printed with thousands separators (en-US, at most 3 decimals);
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
