/**
 * processing/task.ts: the processing steps that run on the processing service's piscina pool
 * (workers/pool.ts task `processMessages`; small messages in the processing thread itself): for
 * each claimed queue entry, take its body (brought by the claim, or read from the queue's
 * segment file by locator, crc-checked), parse its header and MIME structure once
 * (store/structure.ts: the structure the store keeps with each copy, so nothing parses it
 * again; store/local-delivery.ts `prepareCopy`, which SMTP's delivery at receipt runs too), and
 * build the lines local delivery puts above it (Return-Path, Received). Only the
 * small results go back; the body never crosses a thread here.
 *
 * Exports: `processMessages(payload)`, `ProcessInput`, `ProcessOutput`. Throws nothing: a
 * failure is reported per entry (`error`), and delivery treats it as a temporary failure.
 */
import { readBody } from '../store/bodies.ts';
import { deliveryPrefix } from '../store/received.ts';
import { prepareCopy } from '../store/local-delivery.ts';
import type { MessageStructure } from '../store/structure.ts';
import type { Locator } from '../store/types.ts';
import type { QueueEnvelope } from '../store/queue-record.ts';

export interface ProcessInput {
  /** `body`: the queued bytes when the claim brought them; else they are read by `locator`. */
  entries: Array<{ id: string; env: QueueEnvelope; locator: Locator; body?: Uint8Array }>;
}

export type ProcessOutput = Array<{ id: string; prefix: string; info: Record<string, unknown>; structure: MessageStructure } | { id: string; error: string }>;

export async function processMessages(p: ProcessInput): Promise<ProcessOutput> {
  return Promise.all(p.entries.map(async (e) => {
    try {
      const body = e.body !== undefined ? Buffer.from(e.body.buffer, e.body.byteOffset, e.body.byteLength) : await readBody(e.locator);
      const { structure, info } = prepareCopy(body); // (SMTP's delivery at receipt runs the same step)
      return { id: e.id, prefix: deliveryPrefix(e.id, e.env), info, structure };
    } catch (err) {
      return { id: e.id, error: err instanceof Error ? err.message : String(err) };
    }
  }));
}
