/**
 * processing/mime.ts: one pass over a message's header section and MIME structure (RFC 5322,
 * RFC 2045/2046): the unfolded header fields, and for each entity its content type and
 * parameters, recursing into multipart bodies (boundaries at line starts) and message/rfc822.
 * Bounded: at most 50 levels and 2000 parts; text is read as latin1 (bytes kept as they are),
 * and malformed input gives a best-effort structure, never an error.
 *
 * Exports: `parseHeader(buf, from)`, `parseStructure(buf)`, `summarize(buf)`, types `Header`,
 * `Entity`, `MimeSummary`. Throws nothing.
 */

export interface Header {
  fields: Array<[string, string]>; // [lower-cased name, unfolded value]
  bodyStart: number; // offset just past the empty line (or the end)
}

export interface Entity {
  type: string; // "text/plain"
  params: Record<string, string>;
  disposition: string | null;
  start: number; // of the entity's header
  bodyStart: number;
  end: number;
  parts: Entity[];
}

export interface MimeSummary {
  messageId: string | null;
  subject: string | null;
  contentType: string;
  headerFields: number;
  parts: number; // leaf entities
  attachments: number;
  depth: number;
}

const MAX_DEPTH = 50;
const MAX_PARTS = 2000;

/** The header section that starts at `from`. */
export function parseHeader(buf: Buffer, from: number, to = buf.length): Header {
  const fields: Array<[string, string]> = [];
  let i = from;
  let cur: [string, string] | null = null;
  while (i < to) {
    let lf = buf.indexOf(10, i);
    if (lf < 0 || lf >= to) lf = to;
    const lineEnd = lf > i && buf[lf - 1] === 13 ? lf - 1 : lf;
    if (lineEnd === i) return { fields, bodyStart: Math.min(lf + 1, to) }; // the empty line
    const line = buf.toString('latin1', i, lineEnd);
    if ((line[0] === ' ' || line[0] === '\t') && cur !== null) cur[1] += ` ${line.trim()}`;
    else {
      const colon = line.indexOf(':');
      if (colon > 0) {
        cur = [line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim()];
        fields.push(cur);
      } else cur = null; // not a field: ignored
    }
    i = lf + 1;
  }
  return { fields, bodyStart: to };
}

/** "multipart/mixed; boundary=\"x\"" → type and parameters. */
function contentType(value: string | undefined): { type: string; params: Record<string, string> } {
  if (value === undefined) return { type: 'text/plain', params: {} };
  const parts = value.split(';');
  const type = (parts.shift() ?? '').trim().toLowerCase() || 'text/plain';
  const params: Record<string, string> = {};
  for (const p of parts) {
    const eq = p.indexOf('=');
    if (eq <= 0) continue;
    const k = p.slice(0, eq).trim().toLowerCase();
    let v = p.slice(eq + 1).trim();
    if (v.startsWith('"') && v.endsWith('"') && v.length >= 2) v = v.slice(1, -1).replace(/\\(.)/g, '$1');
    if (k !== '' && !Object.hasOwn(params, k)) params[k] = v;
  }
  return { type, params };
}

function field(h: Header, name: string): string | undefined {
  return h.fields.find(([n]) => n === name)?.[1];
}

/** Offsets of the lines that start with `--boundary` in [from, to), and of the closing one. */
function boundaries(buf: Buffer, from: number, to: number, boundary: string): { marks: Array<[number, number]>; close: number } {
  const delim = Buffer.from(`--${boundary}`, 'latin1');
  const marks: Array<[number, number]> = []; // [line start, next line start]
  let i = from;
  while (i < to) {
    const at = buf.indexOf(delim, i);
    if (at < 0 || at >= to) break;
    const atLineStart = at === from || buf[at - 1] === 10;
    let lf = buf.indexOf(10, at);
    if (lf < 0 || lf >= to) lf = to - 1;
    if (atLineStart) {
      const closing = buf[at + delim.length] === 45 && buf[at + delim.length + 1] === 45;
      if (closing) return { marks, close: at };
      marks.push([at, lf + 1]);
    }
    i = lf + 1;
  }
  return { marks, close: to };
}

function entity(buf: Buffer, start: number, end: number, depth: number, count: { n: number }): Entity {
  count.n++;
  const h = parseHeader(buf, start, end);
  const ct = contentType(field(h, 'content-type'));
  const disp = field(h, 'content-disposition');
  const e: Entity = { type: ct.type, params: ct.params, disposition: disp === undefined ? null : disp.split(';')[0]!.trim().toLowerCase(), start, bodyStart: h.bodyStart, end, parts: [] };
  if (depth >= MAX_DEPTH || count.n >= MAX_PARTS) return e;
  if (ct.type.startsWith('multipart/') && ct.params.boundary !== undefined && ct.params.boundary !== '') {
    const { marks, close } = boundaries(buf, h.bodyStart, end, ct.params.boundary);
    for (let k = 0; k < marks.length && count.n < MAX_PARTS; k++) {
      const partStart = marks[k]![1];
      let partEnd = k + 1 < marks.length ? marks[k + 1]![0] : close;
      if (partEnd > partStart && buf[partEnd - 1] === 10) partEnd -= buf[partEnd - 2] === 13 ? 2 : 1; // the CRLF belongs to the delimiter
      e.parts.push(entity(buf, partStart, Math.max(partStart, partEnd), depth + 1, count));
    }
  } else if (ct.type === 'message/rfc822') {
    e.parts.push(entity(buf, h.bodyStart, end, depth + 1, count));
  }
  return e;
}

export function parseStructure(buf: Buffer): Entity {
  return entity(buf, 0, buf.length, 0, { n: 0 });
}

function walk(e: Entity, depth: number, acc: { parts: number; attachments: number; depth: number }): void {
  acc.depth = Math.max(acc.depth, depth);
  if (e.parts.length === 0) {
    acc.parts++;
    if (e.disposition === 'attachment' || e.params.name !== undefined) acc.attachments++;
  }
  for (const p of e.parts) walk(p, depth + 1, acc);
}

export function summarize(buf: Buffer): MimeSummary {
  const root = parseStructure(buf);
  const h = parseHeader(buf, 0);
  const acc = { parts: 0, attachments: 0, depth: 0 };
  walk(root, 0, acc);
  return {
    messageId: field(h, 'message-id')?.slice(0, 998) ?? null,
    subject: field(h, 'subject')?.slice(0, 200) ?? null,
    contentType: root.type,
    headerFields: h.fields.length,
    ...acc,
  };
}
