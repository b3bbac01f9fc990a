/**
 * auth/cache.ts: a per-thread login shortcut, bounded in size, for the protocols whose
 * sessions log in often (POP3, IMAP). (The failed-login delay and ban are the service's, across
 * threads: auth/throttle.ts.)
 *
 * - `LoginCache`: logins whose password was verified (Dovecot's auth cache): the key is a
 *   SHA-256 of a per-thread random key, the login, the password and the stored hash, so a
 *   changed password (a new stored hash) misses and no password is kept (someone who can read
 *   the thread's memory could still test guesses at SHA-256 speed, not scrypt's). At most
 *   authCacheSize entries, each for authCacheTtl. The directory is still asked at every login
 *   (account, domain and service enabled, current hash); only the scrypt check is skipped.
 *   Concurrent checks of the same credentials share one scrypt run.
 *
 * - `ldapCacheTag(name)`: what stands for the stored hash when an LDAP directory checked the
 *   password (a bind or a compare): the cache then keeps logins the directory accepted.
 *
 * Exports: `LoginCache`, `LoginCacheOptions`, `ldapCacheTag`. Throws nothing.
 */
import { hash as cryptoHash, randomBytes } from 'node:crypto';
import { OFF, type Off } from '../config/options.ts';

/** The cache's two options (POP3's and IMAP's authCacheSize / authCacheTtl, resolved). */
export interface LoginCacheOptions {
  readonly authCacheSize: number | Off;
  readonly authCacheTtlMs: number;
}

/** The verified-login cache's "stored hash" for a password an LDAP map or connector checked:
 * the directory keeps no hash Postern sees, so the map's name stands in (a different map, a
 * different entry). */
export const ldapCacheTag = (name: string): string => `\0ldap\0${name}`;

export class LoginCache {
  private readonly key = randomBytes(32).toString('base64');
  private readonly entries = new Map<string, number>(); // digest → expires at (ms)

  /** SHA-256 of (random per-thread key, login, password, stored hash): only a lookup key,
   * never shown to anyone (one-shot `hash`: a keyed HMAC object costs ~10× more per login). */
  private digest(login: string, password: string, hash: string): string {
    return cryptoHash('sha256', `${this.key}\0${login.toLowerCase()}\0${password}\0${hash}`, 'base64');
  }

  private readonly pending = new Map<string, Promise<boolean>>(); // checks in flight, by digest

  /**
   * Whether `password` matches `hash` for `login`: from the cache, else by `verify` (the
   * scrypt check on the pool), sharing one check among concurrent logins with the same
   * credentials (a burst of sessions of one user costs one scrypt, not one each).
   */
  async check(login: string, password: string, hash: string, o: LoginCacheOptions, verify: () => Promise<boolean>): Promise<boolean> {
    if (this.has(login, password, hash, o)) return true;
    const k = this.digest(login, password, hash);
    let p = this.pending.get(k);
    if (p === undefined) {
      p = verify().then((ok) => {
        if (ok) this.add(login, password, hash, o);
        return ok;
      });
      this.pending.set(k, p);
      const done = (): void => void this.pending.delete(k);
      p.then(done, done);
    }
    return p;
  }

  has(login: string, password: string, hash: string, o: LoginCacheOptions, now = Date.now()): boolean {
    if (o.authCacheSize === OFF) return false;
    const k = this.digest(login, password, hash);
    const exp = this.entries.get(k);
    if (exp === undefined) return false;
    if (exp <= now) {
      this.entries.delete(k);
      return false;
    }
    return true;
  }

  add(login: string, password: string, hash: string, o: LoginCacheOptions, now = Date.now()): void {
    const size = o.authCacheSize;
    if (size === OFF) return;
    const k = this.digest(login, password, hash);
    this.entries.delete(k);
    this.entries.set(k, now + o.authCacheTtlMs);
    while (this.entries.size > size) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) break;
      this.entries.delete(oldest);
    }
  }

  get size(): number {
    return this.entries.size;
  }
}
