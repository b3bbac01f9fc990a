/**
 * config/lexer.ts: splits config text (the seed system's axigen.cfg syntax) into tokens with
 * 1-based line and column.
 *
 * Tokens: `{ } ( ) =`, `word` (an unquoted run of characters) and `string` (double-quoted, with
 * `\"` and `\\` escapes; any other backslash is kept as written). Skipped: whitespace, `#` to
 * end of line, `/* … *\/` block comments, a leading byte-order mark. A word ends at whitespace,
 * one of `{ } ( ) = " #`, or the start of a block comment.
 *
 * Exports: `Token`, `TokenType`, `tokenize(text, sourceName?)`, `syntaxError(...)`.
 * Throws: PosternError CONFIG_SYNTAX (unterminated string or block comment, a line break inside
 * a quoted string) with `details: { line, column, path: '' }`.
 */
import { PosternError } from '../errors.ts';

export type TokenType = 'lbrace' | 'rbrace' | 'lparen' | 'rparen' | 'equals' | 'word' | 'string' | 'eof';

export interface Token {
  type: TokenType;
  /** The word, or the string's value with escapes removed; the punctuation itself otherwise. */
  text: string;
  line: number;
  column: number;
}

const PUNCT: Readonly<Record<string, TokenType>> = {
  '{': 'lbrace',
  '}': 'rbrace',
  '(': 'lparen',
  ')': 'rparen',
  '=': 'equals',
};

/** Characters that end an unquoted word (besides whitespace and the start of `/*`). */
const WORD_END = new Set(['{', '}', '(', ')', '=', '"', '#']);

function isSpace(ch: string): boolean {
  return ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r' || ch === '\f' || ch === '\v';
}

/** The one way a syntax error is built, so every one carries the same details. */
export function syntaxError(line: number, column: number, what: string, sourceName?: string): PosternError {
  const prefix = sourceName === undefined ? '' : `${sourceName}: `;
  return new PosternError('CONFIG_SYNTAX', `${prefix}line ${line}, column ${column}: ${what}`, {
    line,
    column,
    path: '',
    ...(sourceName === undefined ? {} : { source: sourceName }),
  });
}

export function tokenize(text: string, sourceName?: string): Token[] {
  const tokens: Token[] = [];
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  let line = 1;
  let lineStart = i; // index of the first character of the current line
  const col = (at: number): number => at - lineStart + 1;

  while (i < text.length) {
    const ch = text[i]!;
    if (ch === '\n') {
      i++;
      line++;
      lineStart = i;
      continue;
    }
    if (isSpace(ch)) {
      i++;
      continue;
    }
    if (ch === '#') {
      while (i < text.length && text[i] !== '\n') i++;
      continue;
    }
    if (ch === '/' && text[i + 1] === '*') {
      const startLine = line;
      const startCol = col(i);
      i += 2;
      for (;;) {
        if (i >= text.length) throw syntaxError(startLine, startCol, 'unterminated block comment', sourceName);
        if (text[i] === '*' && text[i + 1] === '/') {
          i += 2;
          break;
        }
        if (text[i] === '\n') {
          line++;
          lineStart = i + 1;
        }
        i++;
      }
      continue;
    }
    const punct = PUNCT[ch];
    if (punct !== undefined) {
      tokens.push({ type: punct, text: ch, line, column: col(i) });
      i++;
      continue;
    }
    if (ch === '"') {
      const startCol = col(i);
      let value = '';
      i++;
      for (;;) {
        if (i >= text.length) throw syntaxError(line, startCol, 'unterminated quoted string', sourceName);
        const c = text[i]!;
        if (c === '\n' || c === '\r') {
          throw syntaxError(line, startCol, 'unterminated quoted string (a value cannot continue onto the next line)', sourceName);
        }
        if (c === '"') {
          i++;
          break;
        }
        if (c === '\\' && (text[i + 1] === '"' || text[i + 1] === '\\')) {
          value += text[i + 1];
          i += 2;
          continue;
        }
        value += c;
        i++;
      }
      tokens.push({ type: 'string', text: value, line, column: startCol });
      continue;
    }
    const start = i;
    while (i < text.length) {
      const c = text[i]!;
      if (isSpace(c) || WORD_END.has(c) || (c === '/' && text[i + 1] === '*')) break;
      i++;
    }
    tokens.push({ type: 'word', text: text.slice(start, i), line, column: col(start) });
  }
  tokens.push({ type: 'eof', text: '', line, column: col(i) });
  return tokens;
}
