/**
 * protocols/imap/selected-search.ts: the SEARCH, SORT and THREAD rows (and their UID forms)
 * over the selected view (SORT and THREAD: search.ts's scope, sort.ts and thread.ts):
 * the scope is the view's messages the client knows and the store still holds (search.ts
 * evaluates it), the reply `* SEARCH` or `* ESEARCH` (RFC 4731), RETURN (SAVE) keeps the result
 * as `$` (RFC 5182: MIN / MAX alone save only those; a failed SEARCH empties it), a MODSEQ key
 * turns CONDSTORE on (RFC 7162 §3.1), an unknown CHARSET is `NO [BADCHARSET (UTF-8 US-ASCII)]`.
 *
 * Exports: SEARCH_ROWS, `searchScope`. Throws nothing (store failures are NO replies).
 */
import { reply, type Verdict } from '../../session/line-session.ts';
import { charsetSupported, formatSearch, runSearch, SUPPORTED_CHARSETS, usesModseq } from './search.ts';
import { formatSort, runSort } from './sort.ts';
import { formatThread, runThread } from './thread.ts';
import { enableCondstore, storeFailure, viewOf } from './selected-util.ts';
import type { Command, ImapRow, ImapSession, ImapState, SearchMessage, SearchScope } from './types.ts';

type Cmd<N extends Command['name']> = Extract<Command, { name: N }>;

/** What the search engine sees of the selected mailbox. */
export function searchScope(s: ImapSession): SearchScope {
  const view = viewOf(s);
  return { mailbox: s.data.mailbox!, folder: view.name, uidValidity: view.uidValidity, messages: view.searchMessages(), saved: s.data.saved };
}

const badCharset = (tag: string): Verdict<ImapState> => reply(`${tag} NO [BADCHARSET (${SUPPORTED_CHARSETS.join(' ')})] Unsupported charset\r\n`);

/** RFC 5182 §2.1: what SEARCH RETURN (SAVE …) keeps as `$`. */
function saveOf(matches: readonly SearchMessage[], returns: readonly string[]): number[] {
  const others = returns.filter((r) => r !== 'SAVE');
  if (others.length > 0 && !others.includes('ALL') && !others.includes('COUNT') && (others.includes('MIN') || others.includes('MAX'))) {
    const out: number[] = [];
    if (matches.length > 0 && others.includes('MIN')) out.push(matches[0]!.uid);
    if (matches.length > 0 && others.includes('MAX') && matches[matches.length - 1]!.uid !== out[0]) out.push(matches[matches.length - 1]!.uid);
    return out;
  }
  return matches.map((m) => m.uid);
}

async function search(cmd: Cmd<'SEARCH'>, s: ImapSession): Promise<Verdict<ImapState>> {
  const saving = cmd.returns?.includes('SAVE') ?? false;
  if (!charsetSupported(cmd.charset)) {
    if (saving) s.data.saved = [];
    return badCharset(cmd.tag);
  }
  const modseq = usesModseq(cmd.key);
  const head = (cmd.uid ? viewOf(s).updates(true) : '') + (modseq ? enableCondstore(s) : '');
  if (head !== '') s.write(head);
  let matches: SearchMessage[];
  try {
    matches = await runSearch(cmd.key, searchScope(s));
  } catch (e) {
    if (saving) s.data.saved = [];
    return storeFailure(cmd.tag, e, s);
  }
  if (saving) s.data.saved = saveOf(matches, cmd.returns!);
  const text = formatSearch(matches, { uid: cmd.uid, returns: cmd.returns, tag: cmd.tag, modseq });
  if (text !== '') s.write(text);
  return reply(`${cmd.tag} OK Search completed\r\n`);
}

/** SORT and THREAD: the charset checked, the updates a UID form may carry and CONDSTORE (a
 * MODSEQ key) written first, then the engine's answer, formatted, and the tagged OK. */
async function ordered<T>(cmd: Cmd<'SORT' | 'THREAD'>, s: ImapSession, run: () => Promise<T>, format: (r: T) => string, done: string): Promise<Verdict<ImapState>> {
  if (!charsetSupported(cmd.charset)) return badCharset(cmd.tag);
  const head = (cmd.uid ? viewOf(s).updates(true) : '') + (usesModseq(cmd.key) ? enableCondstore(s) : '');
  if (head !== '') s.write(head);
  let result: T;
  try {
    result = await run();
  } catch (e) {
    return storeFailure(cmd.tag, e, s);
  }
  s.write(format(result));
  return reply(`${cmd.tag} OK ${done} completed\r\n`);
}

const sort = (cmd: Cmd<'SORT'>, s: ImapSession): Promise<Verdict<ImapState>> =>
  ordered(cmd, s, () => runSort(cmd.criteria, cmd.key, searchScope(s)), (sorted) => formatSort(sorted, cmd.uid), 'Sort');

const thread = (cmd: Cmd<'THREAD'>, s: ImapSession): Promise<Verdict<ImapState>> =>
  ordered(cmd, s, () => runThread(cmd.algorithm, cmd.key, searchScope(s)), (tree) => formatThread(tree, cmd.uid), 'Thread');

const SELECTED: readonly ImapState[] = Object.freeze(['selected']);
const row = (run: ImapRow['run']): ImapRow => Object.freeze({ states: SELECTED, expunges: false, run });

export const SEARCH_ROWS: ReadonlyArray<readonly [string, ImapRow]> = Object.freeze([
  ['SEARCH', row((c, s) => search(c as Cmd<'SEARCH'>, s))],
  ['SORT', row((c, s) => sort(c as Cmd<'SORT'>, s))],
  ['THREAD', row((c, s) => thread(c as Cmd<'THREAD'>, s))],
]);
