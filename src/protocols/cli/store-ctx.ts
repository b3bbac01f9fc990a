/**
 * protocols/cli/store-ctx.ts: the CLI's root context and the contexts over the store: domains
 * (`<domain-create#>`, `<domain#>`), accounts (`<domain-account#>`) and the queue (`<queue#>`),
 * each verb a command of the one registry (domain.*, account.*, queue.*) run through
 * `ctx.admin`.
 *
 * Root: CONFIG SERVER, ENTER QUEUE, LIST Domains|AllDomains [wildcard], CREATE Domain name <n>
 * [postmasterPassword <p>] [domainLocation <path>: accepted, unused] (then COMMIT),
 * UPDATE Domain [name] <n>, DELETE Domain [name] <n>, SHOW Domain [name] <n> [ATTR <a>],
 * SAVE Config [<path>].
 * Domain: LIST Accounts [wildcard], ADD Account [name] <n> password <p> [totalMessageSize <KB>]
 * [totalMessageCount <n>] (then COMMIT), UPDATE Account [name] <n> (SET password …, then COMMIT),
 * REMOVE Account [name] <n>, SHOW [ATTR <a>], SHOW Account [name] <n> [ATTR <a>].
 * Queue: LIST, LIST ID <id>, SHOW <id>, RETRY <id>, DELETE <id>, FORCE QUEUE (every waiting
 * message due now).
 * Quotas: totalMessageSize in KB and totalMessageCount (the seed's account Quotas names);
 * 0 is unlimited.
 *
 * Exports: `rootCommand`, `domainCommand`, `accountCommand`, `domainCreateCommand`,
 * `queueCommand` (each: undefined when the verb is not one of its context's), `STORE_HELP`.
 * Throws nothing.
 */
import type { Verdict } from '../../session/line-session.ts';
import { adminCall, failure } from './admin.ts';
import { enterServer, pairs, saveConfig } from './config-ctx.ts';
import { err, ok, table, type CliSession, type CliState, type Frame } from './session.ts';
import { keyword, type Word } from './words.ts';

type V = Verdict<CliState>;
type Rec = Record<string, unknown>;

export const STORE_HELP: Readonly<Record<string, readonly string[]>> = {
  root: [
    'CONFIG SERVER - enters the server context',
    'ENTER QUEUE - enters the queue context',
    'LIST Domains [wildcard] | LIST AllDomains [wildcard] - lists the domains',
    'CREATE Domain name <name> [postmasterPassword <pass>] - creates a domain (then COMMIT)',
    'UPDATE Domain [name] <name> - enters a domain\'s context',
    'DELETE Domain [name] <name> - deletes a domain (it must have no accounts but postmaster)',
    'SHOW Domain [name] <name> [ATTR <attr>] - shows a domain',
    'SAVE Config [<path>] - saves the running configuration',
  ],
  'domain-create': [
    'SET name <name> | postmasterPassword <pass> - the new domain',
    'SHOW - shows what will be created',
    'COMMIT - creates the domain; BACK - drops it',
  ],
  domain: [
    'LIST Accounts [wildcard] - lists the domain\'s accounts',
    'ADD Account [name] <name> password <pass> [totalMessageSize <KB>] [totalMessageCount <n>] - adds an account (then COMMIT)',
    'UPDATE Account [name] <name> - enters an account\'s context',
    'REMOVE Account [name] <name> - removes an account and its mail',
    'SHOW [ATTR <attr>] | SHOW Account [name] <name> [ATTR <attr>] - shows the domain or an account',
    'COMMIT|DONE|BACK - goes to the root context',
  ],
  account: [
    'SET password <pass> | totalMessageSize <KB> | totalMessageCount <n> (0: unlimited)',
    'SHOW [ATTR <attr>] - shows the account',
    'COMMIT|DONE - applies the changes and goes to the domain; BACK - drops them',
  ],
  queue: [
    'LIST | LIST ID <id> | SHOW <id> - the queued messages, or one',
    'RETRY <id> - makes a message due now',
    'DELETE <id> - deletes a message from the queue, undelivered',
    'FORCE QUEUE - makes every waiting message due now',
    'BACK|DONE - goes to the root context',
  ],
};

function glob(pattern: string | undefined): (s: string) => boolean {
  if (pattern === undefined) return () => true;
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 'i');
  return (s) => re.test(s);
}

/** `[name] <value>`. */
function named(words: readonly Word[], key = 'NAME'): string | undefined {
  if (words.length >= 2 && keyword(words[0]) === key) return words[1]!.text;
  return words[0]?.text;
}

function attrLines(s: CliSession, title: string, obj: Rec, words: readonly Word[]): V {
  const entries = Object.entries(obj).map(([k, v]) => [k, v === null ? 'unlimited' : Array.isArray(v) ? `(${v.join(' ')})` : typeof v === 'boolean' ? (v ? 'yes' : 'no') : String(v)] as const);
  const at = words.findIndex((w) => keyword(w) === 'ATTR');
  if (at >= 0) {
    const want = words[at + 1]?.text.toLowerCase();
    const e = entries.find(([k]) => k.toLowerCase() === want);
    if (e === undefined) return err(s, `SHOW ATTR: no attribute ${words[at + 1]?.text ?? ''}`);
    return ok(s, 'attribute shown', [`${e[0]} = ${e[1]}`]);
  }
  const body = entries.map(([k, v]) => `${k} = ${v}`);
  const rule = '-'.repeat(Math.max(title.length, 8));
  return ok(s, 'shown', s.data.quiet ? body : [title, rule, ...body, rule]);
}

async function domains(s: CliSession): Promise<Rec[] | { error: unknown }> {
  const got = await adminCall(s, 'domain.list', {});
  return got.ok ? (got.value as Rec[]) : { error: got.error };
}

/** The domain named (any case), or the -ERR answer. */
async function findDomain(s: CliSession, name: string): Promise<{ domain: Rec } | { answer: V }> {
  const all = await domains(s);
  if (!Array.isArray(all)) return { answer: failure(s, all.error) };
  const d = all.find((x) => String(x.name).toLowerCase() === name.toLowerCase().replace(/\.$/, ''));
  return d === undefined ? { answer: err(s, `no domain ${name}`) } : { domain: d };
}

export async function rootCommand(s: CliSession, verb: string, words: readonly Word[]): Promise<V | undefined> {
  const w0 = keyword(words[0]);
  switch (verb) {
    case 'CONFIG':
      if (w0 !== 'SERVER' || words.length !== 1) return err(s, 'CONFIG takes SERVER here (CONFIG SERVER)');
      return enterServer(s);
    case 'ENTER':
      if (w0 !== 'QUEUE' || words.length !== 1) return err(s, 'ENTER takes QUEUE (ENTER QUEUE); AACL, TRACER and JSONQUERY are not implemented');
      s.data.frames.push({ kind: 'queue' });
      return ok(s, 'entered the queue context');
    case 'LIST': {
      if (w0 !== 'DOMAINS' && w0 !== 'ALLDOMAINS') return err(s, 'LIST takes Domains or AllDomains here');
      const all = await domains(s);
      if (!Array.isArray(all)) return failure(s, all.error);
      const match = glob(words[1]?.text);
      const rows = all.map((d) => String(d.name)).filter(match).map((n) => [n]);
      return ok(s, `${rows.length} domain(s)`, table(s, 'the domains of this server', ['name'], rows));
    }
    case 'CREATE': {
      if (w0 !== 'DOMAIN') return err(s, 'CREATE takes Domain here (CREATE Domain name <name> postmasterPassword <pass>)');
      const p = pairs(words, 1);
      if (typeof p === 'string') return err(s, `CREATE Domain: ${p}`);
      const frame: Frame = { kind: 'domain-create', attrs: {} };
      const bad = p.find(([n]) => !setCreate(frame.attrs, n, String(p.find((x) => x[0] === n)![1])));
      if (bad !== undefined) return err(s, `CREATE Domain: unknown attribute ${bad[0]} (name, postmasterPassword, domainLocation)`);
      s.data.frames.push(frame);
      return ok(s, 'creating a domain: COMMIT creates it, BACK drops it');
    }
    case 'UPDATE': case 'EDIT': {
      if (w0 !== 'DOMAIN') return err(s, `${verb} takes Domain here (UPDATE Domain [name] <name>)`);
      const name = named(words.slice(1));
      if (name === undefined) return err(s, `${verb} Domain: missing the name`);
      const found = await findDomain(s, name);
      if ('answer' in found) return found.answer;
      const d = String(found.domain.name);
      s.data.frames.push({ kind: 'domain', domain: d });
      return ok(s, `entered the context of domain ${d}`);
    }
    case 'DELETE': {
      if (w0 !== 'DOMAIN') return err(s, 'DELETE takes Domain here (DELETE Domain [name] <name>)');
      const name = named(words.slice(1));
      if (name === undefined) return err(s, 'DELETE Domain: missing the name');
      const got = await adminCall(s, 'domain.remove', { name });
      return got.ok ? ok(s, `domain ${name} deleted`) : failure(s, got.error);
    }
    case 'SHOW': {
      if (w0 !== 'DOMAIN') return err(s, 'SHOW takes Domain here (SHOW Domain [name] <name>)');
      const name = named(words.slice(1));
      if (name === undefined) return err(s, 'SHOW Domain: missing the name');
      const found = await findDomain(s, name);
      if ('answer' in found) return found.answer;
      return attrLines(s, `domain ${String(found.domain.name)}`, found.domain, words);
    }
    case 'ENABLE': case 'DISABLE':
      return err(s, `${verb} Domain is not implemented: Postern's domains are always enabled`);
    case 'SAVE': return saveConfig(s, words);
    default: return undefined;
  }
}

function setCreate(attrs: Record<string, string>, name: string, value: string): boolean {
  const n = name.toLowerCase();
  if (n === 'name') attrs.name = value;
  else if (n === 'postmasterpassword' || n === 'postmasterpasswd') attrs.postmasterPassword = value;
  else if (n === 'domainlocation' || n === 'wmfiltertemplatepath' || n === 'domainobjectslocation') attrs[name] = value; // (accepted, unused: the store decides)
  else return false;
  return true;
}

export async function domainCreateCommand(s: CliSession, f: Extract<Frame, { kind: 'domain-create' }>, verb: string, words: readonly Word[]): Promise<V | undefined> {
  switch (verb) {
    case 'SET': {
      const p = pairs(words);
      if (typeof p === 'string' || p.length === 0) return err(s, `SET: ${typeof p === 'string' ? p : 'needs <attribute> <value> pairs'}`);
      for (const [n, v] of p) if (!setCreate(f.attrs, n, String(v))) return err(s, `SET: unknown attribute ${n} (name, postmasterPassword, domainLocation)`);
      return ok(s, 'set');
    }
    case 'SHOW': return attrLines(s, 'the domain to create', { ...f.attrs, ...(f.attrs.postmasterPassword === undefined ? {} : { postmasterPassword: '***' }) }, words);
    case 'COMMIT': case 'DONE': {
      const name = f.attrs.name;
      if (name === undefined) return err(s, 'COMMIT: the domain has no name (SET name <name>)');
      const got = await adminCall(s, 'domain.add', { name, ...(f.attrs.postmasterPassword === undefined ? {} : { postmasterPassword: f.attrs.postmasterPassword }) });
      if (!got.ok) return failure(s, got.error);
      s.data.frames.pop();
      const r = got.value as Rec;
      const shown = typeof r.postmasterPassword === 'string' ? [`postmaster = ${String(r.postmaster)}`, `postmasterPassword = ${r.postmasterPassword} (shown once)`] : [`postmaster = ${String(r.postmaster)}`];
      return ok(s, `domain ${String(r.name)} created`, shown);
    }
    case 'BACK': case 'CANCEL':
      s.data.frames.pop();
      return ok(s, 'domain creation dropped');
    default: return undefined;
  }
}

async function accounts(s: CliSession, domain: string): Promise<Rec[] | V> {
  const got = await adminCall(s, 'account.list', { domain });
  return got.ok ? (got.value as Rec[]) : failure(s, got.error);
}

/** Children of the seed's domain context that Postern does not have. */
const NOT_BUILT = new Set(['ALIAS', 'LIST', 'GROUP', 'FOLDERRCPT', 'FORWARDER']);

const localPart = (address: unknown): string => String(address).replace(/@[^@]*$/, '');

export async function domainCommand(s: CliSession, f: Extract<Frame, { kind: 'domain' }>, verb: string, words: readonly Word[]): Promise<V | undefined> {
  const w0 = keyword(words[0]);
  switch (verb) {
    case 'LIST': {
      if (w0 !== 'ACCOUNTS') return err(s, 'LIST takes Accounts here (LIST Accounts [wildcard])');
      const all = await accounts(s, f.domain);
      if (!Array.isArray(all)) return all;
      const match = glob(words[1]?.text);
      const rows = all.map((a) => localPart(a.address)).filter(match).map((n) => [n]);
      return ok(s, `${rows.length} account(s)`, table(s, `the accounts of ${f.domain}`, ['name'], rows));
    }
    case 'ADD': case 'UPDATE': {
      if (NOT_BUILT.has(w0)) return err(s, `${verb} ${words[0]!.text} is not implemented (Postern's domain context has accounts only)`);
      if (w0 !== 'ACCOUNT') return err(s, `${verb} takes Account here (${verb} Account [name] <name>${verb === 'ADD' ? ' password <pass>' : ''})`);
      const rest = words.slice(1);
      const at = rest.length >= 2 && keyword(rest[0]) === 'NAME' ? 1 : 0;
      const name = rest[at]?.text;
      if (name === undefined) return err(s, `${verb} Account: missing the name`);
      const p = pairs(rest, at + 1);
      if (typeof p === 'string') return err(s, `${verb} Account: ${p}`);
      const attrs: Record<string, string> = {};
      for (const [n, v] of p) {
        const e = setAccount(attrs, n, String(v));
        if (e !== null) return err(s, `${verb} Account: ${e}`);
      }
      if (verb === 'UPDATE') {
        const all = await accounts(s, f.domain);
        if (!Array.isArray(all)) return all;
        if (!all.some((a) => localPart(a.address).toLowerCase() === name.toLowerCase())) return err(s, `UPDATE Account: no account ${name}@${f.domain}`);
      }
      s.data.frames.push({ kind: 'account', domain: f.domain, name, isNew: verb === 'ADD', attrs });
      return ok(s, verb === 'ADD' ? `adding account ${name}@${f.domain}: COMMIT creates it` : `entered the context of account ${name}@${f.domain}`);
    }
    case 'REMOVE': {
      if (NOT_BUILT.has(w0)) return err(s, `REMOVE ${words[0]!.text} is not implemented (Postern's domain context has accounts only)`);
      if (w0 !== 'ACCOUNT') return err(s, 'REMOVE takes Account here (REMOVE Account [name] <name>)');
      const name = named(words.slice(1));
      if (name === undefined) return err(s, 'REMOVE Account: missing the name');
      const got = await adminCall(s, 'account.remove', { address: `${name}@${f.domain}` });
      return got.ok ? ok(s, `account ${name}@${f.domain} removed`) : failure(s, got.error);
    }
    case 'SHOW': {
      if (w0 === 'ACCOUNT') {
        const name = named(words.slice(1).filter((_, i, a) => keyword(a[i]) !== 'ATTR' && keyword(a[i - 1]) !== 'ATTR'));
        const all = await accounts(s, f.domain);
        if (!Array.isArray(all)) return all;
        const a = all.find((x) => localPart(x.address).toLowerCase() === (name ?? '').toLowerCase());
        if (a === undefined) return err(s, `SHOW Account: no account ${name ?? ''}@${f.domain}`);
        return attrLines(s, `account ${String(a.address)}`, accountView(a), words);
      }
      const found = await findDomain(s, f.domain);
      if ('answer' in found) return found.answer;
      return attrLines(s, `domain ${f.domain}`, found.domain, words);
    }
    case 'COMMIT': case 'DONE': case 'BACK': case 'CANCEL':
      s.data.frames.pop();
      return ok(s, verb === 'BACK' || verb === 'CANCEL' ? 'back to the root context' : 'domain committed');
    default: return undefined;
  }
}

/** An account as SHOW gives it: quotas in the seed's names and units (KB; unlimited). */
function accountView(a: Rec): Rec {
  const qb = a.quotaBytes as number | null;
  return {
    name: localPart(a.address), address: a.address, enabled: a.enabled, messages: a.messages, bytes: a.bytes,
    totalMessageSize: qb === null ? null : Math.floor(qb / 1024), totalMessageCount: a.quotaMessages ?? null,
  };
}

function setAccount(attrs: Record<string, string>, name: string, value: string): string | null {
  const n = name.toLowerCase();
  if (n === 'password') {
    if (value === '') return 'password: empty';
    attrs.password = value;
  } else if (n === 'totalmessagesize' || n === 'totalmessagecount') {
    if (!/^\d{1,15}$/.test(value)) return `${name}: expected an unsigned integer, got "${value}"`;
    attrs[n === 'totalmessagesize' ? 'totalMessageSize' : 'totalMessageCount'] = value;
  } else return `unknown attribute ${name} (password, totalMessageSize, totalMessageCount)`;
  return null;
}

const limit = (v: string | undefined, unit: number): number | null | undefined => (v === undefined ? undefined : Number(v) === 0 ? null : Number(v) * unit);

export async function accountCommand(s: CliSession, f: Extract<Frame, { kind: 'account' }>, verb: string, words: readonly Word[]): Promise<V | undefined> {
  const address = `${f.name}@${f.domain}`;
  switch (verb) {
    case 'SET': {
      const p = pairs(words);
      if (typeof p === 'string' || p.length === 0) return err(s, `SET: ${typeof p === 'string' ? p : 'needs <attribute> <value> pairs'}`);
      for (const [n, v] of p) {
        const e = setAccount(f.attrs, n, String(v));
        if (e !== null) return err(s, `SET ${e}`);
      }
      return ok(s, 'set (COMMIT applies)');
    }
    case 'SHOW': {
      const pending = { ...f.attrs, ...(f.attrs.password === undefined ? {} : { password: '***' }) };
      if (f.isNew) return attrLines(s, `account ${address} (to create)`, { name: f.name, ...pending }, words);
      const all = await accounts(s, f.domain);
      if (!Array.isArray(all)) return all;
      const a = all.find((x) => String(x.address).toLowerCase() === address.toLowerCase());
      return attrLines(s, `account ${address}`, { ...(a === undefined ? {} : accountView(a)), ...pending }, words);
    }
    case 'COMMIT': case 'DONE': {
      const quotaBytes = limit(f.attrs.totalMessageSize, 1024);
      const quotaMessages = limit(f.attrs.totalMessageCount, 1);
      const quotas = { ...(quotaBytes === undefined ? {} : { quotaBytes }), ...(quotaMessages === undefined ? {} : { quotaMessages }) };
      if (f.isNew) {
        if (f.attrs.password === undefined) return err(s, 'COMMIT: the account has no password (SET password <pass>)');
        const got = await adminCall(s, 'account.add', { address, password: f.attrs.password, ...quotas });
        if (!got.ok) return failure(s, got.error);
      } else {
        if (f.attrs.password !== undefined) {
          const got = await adminCall(s, 'account.passwd', { address, password: f.attrs.password });
          if (!got.ok) return failure(s, got.error);
          delete f.attrs.password;
        }
        if (Object.keys(quotas).length > 0) {
          const got = await adminCall(s, 'account.update', { address, ...quotas });
          if (!got.ok) return failure(s, got.error);
        }
      }
      s.data.frames.pop();
      return ok(s, `account ${address} ${f.isNew ? 'created' : 'updated'}`);
    }
    case 'BACK': case 'CANCEL':
      s.data.frames.pop();
      return ok(s, 'changes dropped');
    default: return undefined;
  }
}

export async function queueCommand(s: CliSession, verb: string, words: readonly Word[]): Promise<V | undefined> {
  const w0 = keyword(words[0]);
  switch (verb) {
    case 'LIST': {
      if (w0 === 'ID') {
        if (words[1] === undefined) return err(s, 'LIST ID: missing the id');
        return showEntry(s, words[1].text);
      }
      if (words.length > 0) return err(s, 'LIST takes nothing or ID <id> (LIST FILTER is not implemented)');
      const got = await adminCall(s, 'queue.list', {});
      if (!got.ok) return failure(s, got.error);
      const rows = (got.value as Rec[]).map((e) => [String(e.id), String(e.from), String(e.rcpts), String(e.size), String(e.status), String(e.attempts), String(e.nextAttempt ?? '-')]);
      return ok(s, `${rows.length} message(s) in the queue`, table(s, 'the queue', ['id', 'from', 'rcpts', 'size', 'status', 'attempts', 'next attempt'], rows));
    }
    case 'SHOW':
      if (words.length !== 1) return err(s, 'SHOW takes a message id');
      return showEntry(s, words[0]!.text);
    case 'RETRY': case 'DELETE': {
      if (words.length !== 1) return err(s, `${verb} takes a message id (lastFilter is not implemented)`);
      const got = await adminCall(s, verb === 'RETRY' ? 'queue.retry' : 'queue.delete', { id: words[0]!.text });
      if (!got.ok) return failure(s, got.error);
      return ok(s, verb === 'RETRY' ? `message ${words[0]!.text} is due now` : `message ${words[0]!.text} deleted from the queue`);
    }
    case 'FORCE': {
      if (w0 !== 'QUEUE' || words.length !== 1) return err(s, 'FORCE takes QUEUE (FORCE QUEUE)');
      const got = await adminCall(s, 'queue.list', {});
      if (!got.ok) return failure(s, got.error);
      let due = 0;
      let busy = 0;
      for (const e of got.value as Rec[]) {
        if (e.nextAttempt === null || e.nextAttempt === undefined) continue; // (being delivered or done)
        const r = await adminCall(s, 'queue.retry', { id: String(e.id) });
        if (r.ok) due++;
        else busy++;
      }
      return ok(s, `${due} message(s) due now${busy > 0 ? `, ${busy} busy or gone` : ''}`);
    }
    case 'BACK': case 'DONE':
      s.data.frames.pop();
      return ok(s, 'back to the root context');
    case 'NDR': case 'ENABLE': case 'DISABLE': case 'CONTINUE':
      return err(s, `${verb} is not implemented in Postern's queue context`);
    default: return undefined;
  }
}

async function showEntry(s: CliSession, id: string): Promise<V> {
  const got = await adminCall(s, 'queue.show', { id });
  if (!got.ok) return failure(s, got.error);
  const e = got.value as Rec;
  const out: string[] = [];
  for (const [k, v] of Object.entries(e)) {
    if (Array.isArray(v)) {
      out.push(`${k} =`);
      for (const x of v) out.push(`    ${typeof x === 'object' && x !== null ? Object.entries(x as Rec).map(([a, b]) => `${a}=${String(b)}`).join(' ') : String(x)}`);
    } else out.push(`${k} = ${typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v)}`);
  }
  return ok(s, `message ${id}`, out);
}
