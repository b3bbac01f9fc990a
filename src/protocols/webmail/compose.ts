/**
 * webmail/compose.ts: WebMail's writing routes (compose, reply, forward, drafts). Placeholder
 * until the writing side lands: registers nothing.
 *
 * Exports: `registerCompose`. Throws nothing.
 */
import type { WebmailRoutes } from './types.ts';

export const registerCompose: WebmailRoutes = () => {};
