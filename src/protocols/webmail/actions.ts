/**
 * webmail/actions.ts: WebMail's acting routes (flags, move, delete, folders). Placeholder until
 * the writing side lands: registers nothing.
 *
 * Exports: `registerActions`. Throws nothing.
 */
import type { WebmailRoutes } from './types.ts';

export const registerActions: WebmailRoutes = () => {};
