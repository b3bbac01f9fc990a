/**
 * http/views.ts: templates (eta) and static files, chosen per request: virtual hosts map a
 * host name to a template directory under the service's `path`, a mobile User-Agent gets the
 * `mobile/` set first, and anything a custom set lacks comes from the built-in one.
 *
 * Exports: `chooseTemplates`, `createViews`. Placeholder until built.
 */
import type { HttpOptions, TemplateChoice, Views } from './types.ts';
import { PosternError } from '../errors.ts';

/** The template dirs for a request with this Host header and User-Agent. */
export function chooseTemplates(options: HttpOptions, builtin: URL, host: string | undefined, userAgent: string | undefined): TemplateChoice {
  void options, host, userAgent;
  return { dirs: [new URL('default/', builtin).pathname], mobile: false, name: 'default' };
}

export function createViews(options: () => HttpOptions): Views {
  void options;
  const no = (): never => {
    throw new PosternError('NOT_IMPLEMENTED', 'views are not built yet');
  };
  return { render: async () => no(), sendStatic: async () => no() };
}
