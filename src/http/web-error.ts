/**
 * http/web-error.ts: the error a route of an HTTP service throws to answer with an error page
 * of that status (each service's error handler renders it: WebMail's, WebAdmin's).
 *
 * Exports: `WebError`. Throws nothing.
 */

/** An error page with this status. */
export class WebError extends Error {
  readonly status: number;
  /** fastify's name for it (hooks and its error path read it). */
  readonly statusCode: number;
  constructor(status: number, message: string) {
    super(message);
    this.name = 'WebError';
    this.status = status;
    this.statusCode = status;
  }
}
