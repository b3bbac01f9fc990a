/**
 * processing/received.ts: the header lines local delivery puts above a message (Return-Path,
 * Received:), now in src/store/received.ts, where SMTP's delivery at receipt builds them too.
 *
 * Exports: `deliveryPrefix`, `rfc5322Date`, `ipLiteral` (re-exported). Throws nothing.
 */
export { deliveryPrefix, rfc5322Date, ipLiteral } from '../store/received.ts';
