/**
 * store/mime-summary.ts: the short summary of a message that the delivery log line carries
 * (message-id, subject, content type, leaf parts, attachments, depth), taken from the MIME
 * structure the store keeps (src/store/structure.ts: the one MIME parser), so a summary costs
 * no second parse.
 *
 * Exports: `summarize(buf)` (parse, then summarize), `summaryOf(structure)`, type
 * `MimeSummary`. Throws nothing.
 */
import { parseStructure, type BodyPart, type MessageStructure } from './structure.ts';

export interface MimeSummary {
  messageId: string | null;
  subject: string | null;
  contentType: string;
  headerFields: number;
  parts: number; // leaf entities
  attachments: number;
  depth: number;
}

function walk(p: BodyPart, acc: { parts: number; attachments: number }): void {
  if (p.message !== null) return walk(p.message.body, acc);
  for (const c of p.parts) walk(c, acc);
  if (p.parts.length === 0) {
    acc.parts++;
    if (p.disposition?.type === 'attachment' || p.params.some(([k]) => k === 'name')) acc.attachments++;
  }
}

export function summaryOf(s: MessageStructure): MimeSummary {
  const acc = { parts: 0, attachments: 0 };
  walk(s.body, acc);
  return {
    messageId: s.envelope.messageId?.slice(0, 998) ?? null,
    subject: s.envelope.subject?.slice(0, 200) ?? null,
    contentType: `${s.body.type}/${s.body.subtype}`,
    headerFields: s.headerFields,
    ...acc,
    depth: s.depth,
  };
}

export function summarize(buf: Buffer): MimeSummary {
  return summaryOf(parseStructure(buf));
}
