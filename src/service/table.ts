/**
 * service/table.ts: the services table (Postfix master.cf as data). One row per service the
 * seed system documents: its name, transport and the module that implements its sessions.
 * The root supervisor builds the tree from this table; a row without a module is listed (and
 * shown on /status) but refuses to start with NOT_IMPLEMENTED.
 *
 * Exports: `SERVICE_TABLE`, `ServiceRow`, `serviceRow(name)`. Throws SERVICE_UNKNOWN.
 */
import { PosternError } from '../errors.ts';
import type { ServiceName } from '../config/options.ts';

export interface ServiceRow {
  readonly name: ServiceName;
  readonly transport: 'tcp' | 'udp' | 'none';
  readonly description: string;
  /** URL of the protocol module run in the connection threads; null: not implemented yet. */
  readonly protocol: string | null;
}

const row = (name: ServiceName, transport: ServiceRow['transport'], description: string, protocol: string | null = null): ServiceRow =>
  Object.freeze({ name, transport, description, protocol });

export const SERVICE_TABLE: readonly ServiceRow[] = Object.freeze([
  row('smtpIncoming', 'tcp', 'SMTP receiving (RFC 5321)', new URL('../protocols/smtp/index.ts', import.meta.url).href),
  row('processing', 'none', 'queue processing and local delivery', new URL('../processing/index.ts', import.meta.url).href),
  row('smtpOutgoing', 'none', 'SMTP sending'),
  row('pop3', 'tcp', 'POP3 (RFC 1939)', new URL('../protocols/pop3/index.ts', import.meta.url).href),
  row('imap', 'tcp', 'IMAP (RFC 9051)'),
  row('webmail', 'tcp', 'WebMail (HTTP)'),
  row('webadmin', 'tcp', 'WebAdmin (HTTP)'),
  row('cli', 'tcp', 'telnet-style administration CLI'),
  row('log', 'udp', 'remote logging (UDP)'),
  row('report', 'udp', 'reporting (UDP)'),
  row('ftpBackup', 'tcp', 'FTP backup and restore', new URL('../protocols/ftp/index.ts', import.meta.url).href),
  row('rpop', 'none', 'remote POP3 retrieval'),
  row('pop3Proxy', 'tcp', 'POP3 proxy (cluster front end)'),
  row('imapProxy', 'tcp', 'IMAP proxy (cluster front end)'),
  row('webmailProxy', 'tcp', 'WebMail proxy (cluster front end)'),
]);

export function serviceRow(name: string, overrides?: Readonly<Record<string, string>>): ServiceRow {
  const r = SERVICE_TABLE.find((s) => s.name === name);
  if (r === undefined) throw new PosternError('SERVICE_UNKNOWN', `unknown service "${name}"`);
  const o = overrides?.[name];
  return o === undefined ? r : Object.freeze({ ...r, protocol: o });
}
