/**
 * protocols/pop3/guard.ts: the POP3 thread's verified-login cache (auth/cache.ts `LoginCache`,
 * sized by the service's authCacheSize / authCacheTtl). (The failed-login delay and ban are the
 * service's, across threads: auth/throttle.ts.)
 *
 * Exports: `LoginCache` (auth/cache.ts's), `loginCache` (this thread's instance).
 * Throws nothing.
 */
import { LoginCache } from '../../auth/cache.ts';

export { LoginCache };

export const loginCache = new LoginCache();
