/**
 * webadmin/accounts.ts: domains and accounts, through the registry's store commands:
 *   GET  /domains                     `domain.list`, and the add form
 *   POST /domains/add                 `name`, `postmasterPassword` (empty: a random one, shown once)
 *   POST /domains/remove              `name` (STORE_DOMAIN_NOT_EMPTY shown)
 *   GET  /accounts?domain=            `account.list` (usage, quotas), and the add form
 *   POST /accounts/add                `address`, `password`, `quotaBytes`, `quotaMessages` (empty:
 *                                     unlimited)
 *   POST /accounts/password           `address`, `password`
 *   POST /accounts/quota              `address`, `quotaBytes`, `quotaMessages` (`account.update`;
 *                                     empty: unlimited)
 *   POST /accounts/remove             `address`
 * A refused change (a bad name, an existing address, a quota that is not a number): 400, the
 * page again with the error (`.error`), nothing changed. Done: 303 back with a notice.
 * Aliases: the registry has no alias commands; the page says so.
 *
 * Exports: `registerAccounts`. Throws nothing.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { PosternError } from '../../errors.ts';
import type { HttpEnv } from '../../http/types.ts';
import { adminCall, errorStatus, errorText, guard, handled, sendPage, setNotice, str, WebError, type WebadminRoutes } from './common.ts';

const MAX_FIELD = 320;
const MAX_PASSWORD = 1024;

function field(body: unknown, name: string, max = MAX_FIELD): string {
  const v = str(body, name).trim();
  if (v.length > max) throw new WebError(400, `${name} is too long`);
  return v;
}

/** A quota field: '' → unlimited (null); digits → a number; anything else 400. */
function quota(body: unknown, name: string): number | null {
  const v = field(body, name, 20);
  if (v === '') return null;
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(Number(v))) throw new WebError(400, `${name} must be a whole number (empty: unlimited)`);
  return Number(v);
}

async function domainsPage(env: HttpEnv, req: FastifyRequest, reply: FastifyReply, error: string | null, typed: Record<string, string> = {}): Promise<FastifyReply> {
  const domains = (await adminCall(req, 'domain.list')) as Array<Record<string, unknown>>;
  return sendPage(env, req, reply, 'domains', { title: 'Domains', section: 'domains', domains, error, typed }, error === null ? 200 : 400);
}

async function accountsPage(env: HttpEnv, req: FastifyRequest, reply: FastifyReply, error: string | null, typed: Record<string, string> = {}): Promise<FastifyReply> {
  const domain = str(req.query, 'domain').trim().slice(0, 255);
  const accounts = (await adminCall(req, 'account.list', domain === '' ? {} : { domain })) as Array<Record<string, unknown>>;
  const domains = (await adminCall(req, 'domain.list')) as Array<{ name: string }>;
  return sendPage(env, req, reply, 'accounts', { title: 'Accounts', section: 'accounts', accounts, domains: domains.map((d) => d.name), domain, error, typed }, error === null ? 200 : 400);
}

/** A change: done → notice and 303 to `back`; the operator's error → the page with it. */
function change(env: HttpEnv, back: string, render: typeof domainsPage, fn: (req: FastifyRequest) => Promise<string>, typedOf: (body: unknown) => Record<string, string>) {
  return handled(env, async (req, reply) => {
    let notice: string;
    try {
      notice = await fn(req);
    } catch (e) {
      if (errorStatus(e) !== 400 || !(e instanceof PosternError || e instanceof WebError)) throw e;
      return render(env, req, reply, errorText(e), typedOf(req.body));
    }
    setNotice(req, reply, notice);
    return reply.code(303).header('location', back).send();
  });
}

export const registerAccounts: WebadminRoutes = (app, env) => {
  app.get('/domains', guard(env), handled(env, async (req, reply) => domainsPage(env, req, reply, null)));
  app.post('/domains/add', guard(env), change(env, '/domains', domainsPage, async (req) => {
    const name = field(req.body, 'name', 255);
    if (name === '') throw new WebError(400, 'Enter the domain name.');
    const pw = str(req.body, 'postmasterPassword');
    if (pw.length > MAX_PASSWORD) throw new WebError(400, 'The password is too long.');
    const r = (await adminCall(req, 'domain.add', pw === '' ? { name } : { name, postmasterPassword: pw })) as { name: string; postmaster: string; postmasterPassword?: string };
    return `Domain ${r.name} added; ${r.postmaster}${r.postmasterPassword === undefined ? '' : ` has the password ${r.postmasterPassword} (shown once)`}.`;
  }, (b) => ({ name: str(b, 'name').slice(0, 255) })));
  app.post('/domains/remove', guard(env), change(env, '/domains', domainsPage, async (req) => {
    const name = field(req.body, 'name', 255);
    if (name === '') throw new WebError(400, 'Which domain?');
    await adminCall(req, 'domain.remove', { name });
    return `Domain ${name} removed.`;
  }, () => ({})));

  app.get('/accounts', guard(env), handled(env, async (req, reply) => accountsPage(env, req, reply, null)));
  app.post('/accounts/add', guard(env), change(env, '/accounts', accountsPage, async (req) => {
    const address = field(req.body, 'address');
    const password = str(req.body, 'password');
    if (address === '' || password === '') throw new WebError(400, 'Enter the address and a password.');
    if (password.length > MAX_PASSWORD) throw new WebError(400, 'The password is too long.');
    const args: Record<string, unknown> = { address, password };
    const qb = quota(req.body, 'quotaBytes');
    const qm = quota(req.body, 'quotaMessages');
    if (qb !== null) args.quotaBytes = qb;
    if (qm !== null) args.quotaMessages = qm;
    const r = (await adminCall(req, 'account.add', args)) as { address: string };
    return `Account ${r.address} added.`;
  }, (b) => ({ address: str(b, 'address').slice(0, MAX_FIELD), quotaBytes: str(b, 'quotaBytes').slice(0, 20), quotaMessages: str(b, 'quotaMessages').slice(0, 20) })));
  app.post('/accounts/password', guard(env), change(env, '/accounts', accountsPage, async (req) => {
    const address = field(req.body, 'address');
    const password = str(req.body, 'password');
    if (address === '' || password === '') throw new WebError(400, 'Enter the address and the new password.');
    if (password.length > MAX_PASSWORD) throw new WebError(400, 'The password is too long.');
    await adminCall(req, 'account.passwd', { address, password });
    return `Password changed for ${address}.`;
  }, () => ({})));
  app.post('/accounts/quota', guard(env), change(env, '/accounts', accountsPage, async (req) => {
    const address = field(req.body, 'address');
    if (address === '') throw new WebError(400, 'Which account?');
    const quotaBytes = quota(req.body, 'quotaBytes');
    const quotaMessages = quota(req.body, 'quotaMessages');
    await adminCall(req, 'account.update', { address, quotaBytes, quotaMessages });
    return `Quotas of ${address}: ${quotaBytes ?? 'unlimited'} bytes, ${quotaMessages ?? 'unlimited'} messages.`;
  }, (b) => ({ quotaAddress: str(b, 'address').slice(0, MAX_FIELD) })));
  app.post('/accounts/remove', guard(env), change(env, '/accounts', accountsPage, async (req) => {
    const address = field(req.body, 'address');
    if (address === '') throw new WebError(400, 'Which account?');
    await adminCall(req, 'account.remove', { address });
    return `Account ${address} removed.`;
  }, () => ({})));
};
