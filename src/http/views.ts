/**
 * http/views.ts: templates (eta) and static files, chosen per request: virtual hosts map a
 * host name to a template directory under the service's `path`, a mobile User-Agent gets the
 * `mobile/` set first, and anything a custom set lacks comes from the built-in one.
 *
 * `chooseTemplates` (per request, by the host): the Host header, port stripped and lower-cased,
 * is matched against `virtualHosts` (an exact name first, then `*.example.com`, which matches
 * any name under example.com but not example.com itself); a name that is not a plain DNS name
 * matches nothing. The dirs, searched in order: the host's set `<path>/<template>/`, the default
 * set `<path>/default/` (when `path` is set), the built-in `<builtin>/default/`; with a mobile
 * User-Agent (a phone: `Mobi`, iPhone, iPod, Android … Mobile, Windows Phone, Opera Mini,
 * BlackBerry) each set's `mobile/` comes just before it.
 *
 * `createViews`: `render(req, name, model)` finds `<name>.eta` in the request's dirs (first hit
 * wins), and so do the template's `include()` and `layout()`: a custom set may override only
 * `layout.eta`. Templates escape every `<%= %>` (eta autoEscape). Compiled templates are cached
 * by file path; which file a name resolves to, and its mtime, are checked again at most once per
 * `RECHECK_MS`, so an operator's edit shows within a second, and at once after a reload (new
 * options). `sendStatic` serves `/static/<file>` from the first `<dir>/static/<file>` found,
 * with a content type by extension and a cache header; a name with `..`, a hidden segment, a
 * backslash or anything but `[A-Za-z0-9._-]` segments gets 404, as does a missing file.
 *
 * Exports: `chooseTemplates`, `createViews`, `isMobile`, `plainHostName`. Rejects (render): eta's
 * errors for a broken template; INTERNAL for a name that is not a plain path or that no dir has
 * (a programming or packaging error: the host answers 500).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Eta } from 'eta';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { HttpOptions, TemplateChoice, Views } from './types.ts';
import { PosternError } from '../errors.ts';

const RECHECK_MS = 1000;

const MOBILE_UA = /Mobi|iPhone|iPod|Android.*Mobile|Windows Phone|Opera Mini|BlackBerry|BB10|IEMobile/i;

/** A phone's User-Agent (tablets get the desktop set). */
export function isMobile(userAgent: string | undefined): boolean {
  return userAgent !== undefined && MOBILE_UA.test(userAgent);
}

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/** The Host header's name, port stripped and lower-cased, if it is a plain DNS name (or an IP
 * literal, which maps to nothing); null otherwise. */
export function plainHostName(host: string | undefined): string | null {
  if (host === undefined) return null;
  let h = host.trim().toLowerCase();
  if (h.startsWith('[')) return null; // an IPv6 literal: never a virtual host
  const colon = h.lastIndexOf(':');
  if (colon >= 0) {
    if (!/^\d{1,5}$/.test(h.slice(colon + 1))) return null;
    h = h.slice(0, colon);
  }
  if (h.endsWith('.')) h = h.slice(0, -1);
  if (h === '' || h.length > 253) return null;
  return h.split('.').every((l) => LABEL.test(l)) ? h : null;
}

/** A template directory's name from the config: one plain path segment. */
const plainSegment = (s: string): boolean => /^[A-Za-z0-9_][A-Za-z0-9._-]*$/.test(s) && !s.includes('..');

function virtualTemplate(options: HttpOptions, host: string | null): string | null {
  if (host === null) return null;
  for (const v of options.virtualHosts) if (v.host.toLowerCase() === host) return v.template;
  for (const v of options.virtualHosts) {
    const pattern = v.host.toLowerCase();
    if (pattern.startsWith('*.') && host.endsWith(pattern.slice(1)) && host.length > pattern.length - 1) return v.template;
  }
  return null;
}

/** The template dirs for a request with this Host header and User-Agent. */
export function chooseTemplates(options: HttpOptions, builtin: URL, host: string | undefined, userAgent: string | undefined): TemplateChoice {
  const mobile = isMobile(userAgent);
  const sets: string[] = [];
  let name = 'default';
  if (options.path !== '') {
    const t = virtualTemplate(options, plainHostName(host));
    if (t !== null && t !== 'default' && plainSegment(t)) {
      sets.push(path.join(options.path, t));
      name = t;
    }
    sets.push(path.join(options.path, 'default'));
  }
  sets.push(path.join(fileURLToPath(builtin), 'default'));
  const dirs: string[] = [];
  for (const s of sets) {
    if (mobile) dirs.push(path.join(s, 'mobile'));
    dirs.push(s);
  }
  return { dirs, mobile, name };
}

/** A template name (`list`, `./layout`, `partials/head.eta`) as a path under a dir; null when
 * it is not made of plain segments. */
function templateFile(name: string): string | null {
  let n = name.replace(/^(?:\.\/|\/)+/, '');
  if (!n.endsWith('.eta')) n += '.eta';
  const segs = n.split('/');
  return segs.every((s) => /^[A-Za-z0-9_][A-Za-z0-9._-]*$/.test(s) && !s.includes('..')) ? segs.join(path.sep) : null;
}

/** A static file's name as a path under `static/`; null when not plain. */
function staticFile(file: string): string | null {
  if (file.length > 512) return null;
  const segs = file.split('/');
  return segs.every((s) => /^[A-Za-z0-9_][A-Za-z0-9._-]*$/.test(s) && !s.includes('..')) ? segs.join(path.sep) : null;
}

const CONTENT_TYPES: Readonly<Record<string, string>> = Object.freeze({
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
});
const STATIC_CACHE = 'public, max-age=3600';

interface Found {
  file: string | null; // null: no dir has it
  mtimeMs: number;
  size: number;
  checkedAt: number;
}

/** The first `<dir>/<rel>` that is a file, with its mtime. */
function findFile(dirs: readonly string[], rel: string, now: number): Found {
  for (const d of dirs) {
    const file = path.join(d, rel);
    try {
      const st = fs.statSync(file);
      if (st.isFile()) return { file, mtimeMs: st.mtimeMs, size: st.size, checkedAt: now };
    } catch {
      /* not in this dir */
    }
  }
  return { file: null, mtimeMs: 0, size: 0, checkedAt: now };
}

/** Render options carried through eta's include()/layout() (eta passes its options on). */
interface RenderMeta {
  filepath: string;
  dirs: readonly string[];
}

export function createViews(options: () => HttpOptions, now: () => number = Date.now): Views {
  let seen: HttpOptions | null = null;
  /** dirs + name → where it resolved (and when that was checked). */
  const resolved = new Map<string, Found>();
  /** file path → mtime of the compiled template eta holds for it. */
  const compiled = new Map<string, number>();
  const staticFound = new Map<string, Found>();

  const eta = new Eta({ autoEscape: true, cache: true });

  /** After a reload (new options), forget every resolution: edits show at once. */
  const freshen = (): void => {
    const o = options();
    if (o === seen) return;
    seen = o;
    resolved.clear();
    staticFound.clear();
  };

  const lookup = (cache: Map<string, Found>, dirs: readonly string[], rel: string): Found => {
    const key = `${dirs.join('\0')}\0\0${rel}`;
    const t = now();
    const hit = cache.get(key);
    if (hit !== undefined && t - hit.checkedAt < RECHECK_MS) return hit;
    const f = findFile(dirs, rel, t);
    if (cache.size >= 10_000) cache.clear(); // bounded: the keys come from the config, not clients
    cache.set(key, f);
    return f;
  };

  // every name, top-level or include()/layout(), resolves through the request's dirs
  eta.resolvePath = function (this: Eta, template: string, opts?: Partial<RenderMeta>): string {
    const dirs = opts?.dirs ?? [];
    const rel = templateFile(template);
    if (rel === null) throw new PosternError('INTERNAL', `template name ${JSON.stringify(template)} is not a plain path`);
    const f = lookup(resolved, dirs, rel);
    if (f.file === null) throw new PosternError('INTERNAL', `no template ${rel} in ${dirs.join(', ')}`);
    const m = compiled.get(f.file);
    if (m !== f.mtimeMs) {
      // new or edited: eta compiles it again on this render
      this.templatesSync.remove(f.file);
      this.templatesAsync.remove(f.file);
      compiled.set(f.file, f.mtimeMs);
    }
    return f.file;
  } as Eta['resolvePath'];

  return {
    async render(req: FastifyRequest, name: string, model: Record<string, unknown>): Promise<string> {
      freshen();
      const st = req.postern;
      const it = {
        csrf: st.session?.csrf ?? '',
        user: st.session?.user ?? null,
        mobile: st.templates.mobile,
        secureUrl: st.secureUrl,
        ...model,
      };
      const meta: RenderMeta = { filepath: '', dirs: st.templates.dirs };
      return eta.render(name, it, meta);
    },

    async sendStatic(req: FastifyRequest, reply: FastifyReply, file: string): Promise<void> {
      freshen();
      const rel = staticFile(file);
      const f = rel === null ? null : lookup(staticFound, req.postern.templates.dirs.map((d) => path.join(d, 'static')), rel);
      if (f === null || f.file === null) {
        await reply.code(404).type('text/plain; charset=utf-8').send('Not Found\n');
        return;
      }
      const etag = `"${f.size.toString(36)}-${Math.floor(f.mtimeMs).toString(36)}"`;
      reply.header('cache-control', STATIC_CACHE).header('etag', etag).header('last-modified', new Date(f.mtimeMs).toUTCString());
      reply.header('x-content-type-options', 'nosniff');
      if (req.headers['if-none-match'] === etag) {
        await reply.code(304).send();
        return;
      }
      let body: Buffer;
      try {
        body = await fs.promises.readFile(f.file);
      } catch {
        staticFound.clear();
        await reply.code(404).type('text/plain; charset=utf-8').send('Not Found\n');
        return;
      }
      await reply.type(CONTENT_TYPES[path.extname(f.file).toLowerCase()] ?? 'application/octet-stream').send(body);
    },
  };
}
