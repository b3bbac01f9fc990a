/**
 * webmailProxy/affinity.ts: the session-token affinity. The browser's session cookie
 * (`SESSION_COOKIE`) is the proxy's own web session, kept by the proxy's service host
 * (http/session-table.ts: shared by every thread of the service, bounded, expiring with
 * sessionIdleTimeout/sessionActivityTimeout); the session records which back end the user was
 * logged in on and the back end's own session token. So the token the browser holds is the
 * affinity key: every request carrying it goes to that back end, with the back end's token put
 * in its place (the back end's token never reaches the browser).
 *
 * The record rides in the session's `user` field (the host table's only free-form field):
 * `wmproxy1 <backend> <token> <login>`.
 *
 * Exports: `Affinity`, `encodeAffinity`, `decodeAffinity`, `withBackendCookie`,
 * `backendSessionCookie`. Throws nothing (a record that does not parse is null).
 */
import { SESSION_COOKIE } from '../../http/types.ts';
import { SESSION_ID_PATTERN } from '../../http/session-table.ts';
import { parseBackendKey } from './backends.ts';

const TAG = 'wmproxy1';

export interface Affinity {
  /** `host:port` of the back end. */
  readonly backend: string;
  /** The back end's session token (its `postern_session` cookie). */
  readonly token: string;
  /** The login as the user typed it. */
  readonly login: string;
}

export function encodeAffinity(a: Affinity): string {
  return `${TAG} ${a.backend} ${a.token} ${a.login}`;
}

/** The record of a session's `user` field; null when it is not one (a forged or old session). */
export function decodeAffinity(user: string): Affinity | null {
  const parts = user.split(' ');
  if (parts.length < 4 || parts[0] !== TAG) return null;
  const [, backend, token] = parts as [string, string, string];
  if (parseBackendKey(backend) === null || !SESSION_ID_PATTERN.test(token)) return null;
  return { backend, token, login: parts.slice(3).join(' ') };
}

/** The request's Cookie header(s) with every `postern_session` replaced by one carrying the
 * back end's token; the other cookies kept as they are. */
export function withBackendCookie(cookie: string | string[] | undefined, token: string): string {
  const all = cookie === undefined ? [] : Array.isArray(cookie) ? cookie : [cookie];
  const kept: string[] = [];
  for (const h of all) {
    for (const part of h.split(';')) {
      const p = part.trim();
      if (p === '') continue;
      const eq = p.indexOf('=');
      if ((eq < 0 ? p : p.slice(0, eq).trim()) === SESSION_COOKIE) continue;
      kept.push(p);
    }
  }
  kept.push(`${SESSION_COOKIE}=${token}`);
  return kept.join('; ');
}

/** A back end's Set-Cookie for the session cookie: the token it sets, '' when it clears it;
 * null for any other cookie. */
export function backendSessionCookie(setCookie: string): string | null {
  const first = setCookie.split(';')[0] ?? '';
  const eq = first.indexOf('=');
  if (eq < 0 || first.slice(0, eq).trim() !== SESSION_COOKIE) return null;
  const cleared = /;\s*max-age\s*=\s*0\s*(?:;|$)/i.test(setCookie);
  const v = first.slice(eq + 1).trim();
  return cleared ? '' : v;
}
