/**
 * service/table.ts: the services table as the root supervisor reads it. The one table is
 * `SERVICE_TABLE` in config/schema.ts (Postfix master.cf as data: name, transport, module,
 * options schema, default listener and idle timeout, on in the embedded default); this is its
 * run-time view: each row with `protocol`, the module its threads run (a test's override, else
 * the row's module). The root supervisor builds the tree from these rows; a row without a
 * module is listed (and shown on /status) but refuses to start with NOT_IMPLEMENTED.
 *
 * Exports: `ServiceRow`, `serviceRows()` (the table's rows, then registered test rows),
 * `serviceRow(name, overrides?)`. Throws SERVICE_UNKNOWN.
 */
import { PosternError } from '../errors.ts';
import { serviceDefs, type ServiceRow as TableRow } from '../config/schema.ts';

export interface ServiceRow extends TableRow {
  /** URL of the module run in the service's threads; null: not implemented yet. */
  readonly protocol: string | null;
}

const view = (r: TableRow, protocol: string | null): ServiceRow => Object.freeze({ ...r, protocol });

/** Every row, the table's first (in its order), then the test rows of `registerServices`. */
export function serviceRows(): readonly ServiceRow[] {
  return serviceDefs().map((d) => view(d.row, d.row.module));
}

export function serviceRow(name: string, overrides?: Readonly<Record<string, string>>): ServiceRow {
  const d = serviceDefs().find((s) => s.name === name);
  if (d === undefined) throw new PosternError('SERVICE_UNKNOWN', `unknown service "${name}"`);
  return view(d.row, overrides?.[name] ?? d.row.module);
}
