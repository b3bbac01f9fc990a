/**
 * protocols/cli/names.ts: the seed's CLI names for Postern's services and objects.
 *
 * `CONFIG <ctx>` in the server context takes the seed's service context names (SERVER/…
 * contexts of the reference), mapped here to Postern's service names (config/schema.ts
 * SERVICE_TABLE); Postern's own names are accepted too (`CONFIG smtpIncoming`). The context's
 * part of the prompt is the seed's name in lower case (`<server-smtp-incoming#>`).
 *
 *   seed context      Postern service
 *   SMTP-INCOMING     smtpIncoming
 *   SMTP-OUTGOING     smtpOutgoing
 *   PROCESSING        processing
 *   POP3              pop3
 *   IMAP              imap
 *   WEBMAIL           webmail
 *   WEBADMIN          webadmin
 *   CLI               cli
 *   LOG               log
 *   REPORT            report
 *   FTP-BACKUP        ftpBackup
 *   RPOP              rpop
 *   POP3-PROXY        pop3Proxy
 *   IMAP-PROXY        imapProxy
 *   WEBMAIL-PROXY     webmailProxy
 *   DNR               the Server's `dnr` object (the resolver is not a service in Postern)
 *
 * Any other object attribute of the current context is entered by its own name (`CONFIG
 * SSLCONTROL`, `CONFIG statusControl`, `CONFIG userdb` once it exists).
 *
 * Child objects (`ADD Listener`, `ADD AllowRule`, `ADD NameServer`) are named by the singular
 * of their set's attribute: `Listener` → `listeners`, `AllowRule` → `allowRules`.
 *
 * Exports: `SEED_SERVICES`, `serviceByCliName(word)`, `cliNameOfService(name)`.
 * Throws nothing.
 */
import { serviceDefs } from '../../config/schema.ts';

export const SEED_SERVICES: Readonly<Record<string, string>> = Object.freeze({
  'SMTP-INCOMING': 'smtpIncoming',
  'SMTP-OUTGOING': 'smtpOutgoing',
  PROCESSING: 'processing',
  POP3: 'pop3',
  IMAP: 'imap',
  WEBMAIL: 'webmail',
  WEBADMIN: 'webadmin',
  CLI: 'cli',
  LOG: 'log',
  REPORT: 'report',
  'FTP-BACKUP': 'ftpBackup',
  RPOP: 'rpop',
  'POP3-PROXY': 'pop3Proxy',
  'IMAP-PROXY': 'imapProxy',
  'WEBMAIL-PROXY': 'webmailProxy',
});

const bySeed = new Map(Object.entries(SEED_SERVICES).map(([k, v]) => [k, v]));
const toSeed = new Map(Object.entries(SEED_SERVICES).map(([k, v]) => [v, k.toLowerCase()]));

/** The Postern service a CLI word names (seed name or Postern's, any case), or undefined. */
export function serviceByCliName(word: string): string | undefined {
  const up = word.toUpperCase();
  const seed = bySeed.get(up);
  if (seed !== undefined) return seed;
  return serviceDefs().find((d) => d.name.toUpperCase() === up)?.name;
}

/** The prompt part of a service's context: the seed's name in lower case, else Postern's. */
export function cliNameOfService(name: string): string {
  return toSeed.get(name) ?? name.toLowerCase().replace(/[^a-z0-9-]/g, '');
}
