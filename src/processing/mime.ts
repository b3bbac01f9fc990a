/**
 * processing/mime.ts: the short MIME summary of a message for the delivery log line, now in
 * src/store/mime-summary.ts, where SMTP's delivery at receipt takes it too.
 *
 * Exports: `summarize`, `summaryOf`, type `MimeSummary` (re-exported). Throws nothing.
 */
export { summarize, summaryOf, type MimeSummary } from '../store/mime-summary.ts';
