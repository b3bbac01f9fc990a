/**
 * store/charset.ts: text in a declared charset to a string, as the store indexes it at delivery
 * (store/structure.ts: the SORT keys; store/search-text.ts: the search text): bytes decoded
 * through a cached TextDecoder per charset, and RFC 2047 encoded words in a header decoded.
 *
 * Charset fallback: an empty charset, us-ascii and ascii read as UTF-8 (a superset: 8-bit bytes
 * in mail labelled ASCII are most often UTF-8); an unknown charset reads as UTF-8 too; a `*lang`
 * suffix (RFC 2231) is dropped. Invalid bytes become U+FFFD.
 *
 * Exports: `decodeBytes(bytes, charset)`, `decodeWords(headerText)`. Throws nothing.
 */
import { TextDecoder } from 'node:util';

const decoders = new Map<string, TextDecoder>();
function decoder(charset: string): TextDecoder {
  let cs = charset.trim().toLowerCase().split('*')[0]!;
  if (cs === '' || cs === 'us-ascii' || cs === 'ascii') cs = 'utf-8';
  let d = decoders.get(cs);
  if (d === undefined) {
    try {
      d = new TextDecoder(cs);
    } catch {
      d = decoders.get('utf-8') ?? new TextDecoder('utf-8');
    }
    if (decoders.size < 64) decoders.set(cs, d);
  }
  return d;
}

/** `b` decoded from `charset` (with the fallback above). */
export function decodeBytes(b: Uint8Array, charset: string): string {
  try {
    return decoder(charset).decode(b);
  } catch {
    return Buffer.from(b).toString('latin1');
  }
}

const ASCII = /^[\x00-\x7f]*$/;

/** RFC 2047 encoded words decoded (whitespace between adjacent ones dropped); other bytes read
 * as UTF-8. `v` is the header's latin1 text (its raw bytes). */
export function decodeWords(v: string): string {
  if (!v.includes('=?')) return ASCII.test(v) ? v : decodeBytes(Buffer.from(v, 'latin1'), 'utf-8'); // ASCII reads the same as UTF-8
  const re = /=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=/g;
  let out = '';
  let last = 0;
  let prevWasWord = false;
  for (let m = re.exec(v); m !== null; m = re.exec(v)) {
    const between = v.slice(last, m.index);
    if (!(prevWasWord && /^\s*$/.test(between))) out += decodeBytes(Buffer.from(between, 'latin1'), 'utf-8');
    const [, charset, enc, text] = m;
    const bytes = enc!.toLowerCase() === 'b'
      ? Buffer.from(text!, 'base64')
      : Buffer.from(text!.replace(/_/g, ' ').replace(/=([0-9a-fA-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1');
    out += decodeBytes(bytes, charset!);
    last = re.lastIndex;
    prevWasWord = true;
  }
  return out + decodeBytes(Buffer.from(v.slice(last), 'latin1'), 'utf-8');
}
