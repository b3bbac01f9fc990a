/**
 * protocols/cli/words.ts: a CLI command line → its words, quoted as in bash (inventory §17,
 * seed CLI): outside quotes a backslash escapes the next character (a space, a quote, a
 * backslash); 'single quotes' keep everything literally (they cannot contain '); "double
 * quotes" keep everything but `\"` and `\\`, which are escaped. Adjacent pieces join into one
 * word (`a"b c"` is `ab c`). A word that was quoted is a value, never a keyword: `quoted`
 * marks it. White space (spaces, tabs) separates words.
 *
 * Also `setValueWords`: a SET value that is a set, `(a b c)`, given as several words.
 *
 * Exports: `Word`, `splitWords(line)`, `keyword(word)`, `joinSet(words, i)`.
 * Throws: CliSyntaxError (an unterminated quote, a trailing backslash), with the column.
 */

export interface Word {
  readonly text: string;
  /** Some part of it was quoted or escaped. */
  readonly quoted: boolean;
}

export class CliSyntaxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CliSyntaxError';
  }
}

export function splitWords(line: string): Word[] {
  const out: Word[] = [];
  let cur = '';
  let inWord = false;
  let quoted = false;
  const n = line.length;
  for (let i = 0; i < n; i++) {
    const c = line[i]!;
    if (c === ' ' || c === '\t') {
      if (inWord) out.push({ text: cur, quoted });
      cur = '';
      inWord = false;
      quoted = false;
      continue;
    }
    inWord = true;
    if (c === '\\') {
      if (i + 1 >= n) throw new CliSyntaxError(`a backslash at the end of the line (column ${i + 1}) escapes nothing`);
      cur += line[++i];
      quoted = true;
    } else if (c === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) throw new CliSyntaxError(`unterminated single quote (column ${i + 1})`);
      cur += line.slice(i + 1, end);
      quoted = true;
      i = end;
    } else if (c === '"') {
      let j = i + 1;
      for (;;) {
        if (j >= n) throw new CliSyntaxError(`unterminated double quote (column ${i + 1})`);
        const d = line[j]!;
        if (d === '"') break;
        if (d === '\\' && (line[j + 1] === '"' || line[j + 1] === '\\')) {
          cur += line[j + 1];
          j += 2;
          continue;
        }
        cur += d;
        j++;
      }
      quoted = true;
      i = j;
    } else cur += c;
  }
  if (inWord) out.push({ text: cur, quoted });
  return out;
}

/** The word as a keyword (upper case), or '' for a quoted word (a value, never a keyword). */
export function keyword(w: Word | undefined): string {
  return w === undefined || w.quoted ? '' : w.text.toUpperCase();
}

/** A value starting at words[i]: a set `( a b c )` spread over several words is gathered into
 * one text `(a b c)`; anything else is the one word. Returns the text and the next index. */
export function joinSet(words: readonly Word[], i: number): [string, number] {
  const first = words[i]!;
  if (first.quoted || !first.text.startsWith('(') || first.text.endsWith(')')) return [first.text, i + 1];
  const parts = [first.text];
  let j = i + 1;
  while (j < words.length) {
    const w = words[j++]!;
    parts.push(w.text);
    if (!w.quoted && w.text.endsWith(')')) break;
  }
  return [parts.join(' '), j];
}
