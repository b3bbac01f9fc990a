/**
 * protocols/smtp/dsn-params.ts: the RFC 3461 parameters of MAIL and RCPT, checked:
 *   MAIL  RET=FULL|HDRS   ENVID=xtext (decoded, at most 100 characters, §4.4)
 *   RCPT  NOTIFY=NEVER | any of SUCCESS,FAILURE,DELAY (§4.1)
 *         ORCPT=addr-type;xtext (kept as given, at most 500 characters, §4.2)
 * A bad value is a syntax error naming the parameter (the caller answers 501 5.5.4).
 *
 * Exports: `mailDsnParam(key, value)`, `rcptDsnParam(key, value)`: the parsed part, or a
 * string saying what is wrong. Throws nothing.
 */
import { DSN_ENVID_MAX, DSN_ORCPT_MAX, isXtext, xtextDecode } from '../../store/dsn.ts';

const NOTIFY_WORDS = new Set(['SUCCESS', 'FAILURE', 'DELAY']);
const ADDR_TYPE = /^[A-Za-z0-9][A-Za-z0-9-]*$/;

export function mailDsnParam(key: 'RET' | 'ENVID', value: string | null): { ret?: 'FULL' | 'HDRS'; envid?: string } | string {
  if (key === 'RET') {
    const v = value?.toUpperCase();
    return v === 'FULL' || v === 'HDRS' ? { ret: v } : 'RET=FULL or RET=HDRS (RFC 3461)';
  }
  if (value === null || value.length > DSN_ENVID_MAX * 3 || !isXtext(value)) return 'ENVID=xtext (RFC 3461)';
  const envid = xtextDecode(value);
  if (envid.length > DSN_ENVID_MAX) return `ENVID longer than ${DSN_ENVID_MAX} characters (RFC 3461)`;
  if (/[^\x20-\x7e]/.test(envid)) return 'ENVID must decode to printable ASCII (RFC 3461)';
  return { envid };
}

export function rcptDsnParam(key: 'NOTIFY' | 'ORCPT', value: string | null): { notify?: string[]; orcpt?: string } | string {
  if (key === 'NOTIFY') {
    const words = (value ?? '').toUpperCase().split(',');
    const ok = words.length === 1 && words[0] === 'NEVER' ? true : words.every((w) => NOTIFY_WORDS.has(w)) && new Set(words).size === words.length;
    return ok ? { notify: words } : 'NOTIFY=NEVER or NOTIFY=SUCCESS,FAILURE,DELAY (RFC 3461)';
  }
  if (value === null) return 'ORCPT=addr-type;xtext (RFC 3461)';
  if (value.length > DSN_ORCPT_MAX) return `ORCPT longer than ${DSN_ORCPT_MAX} characters (RFC 3461)`;
  const semi = value.indexOf(';');
  if (semi <= 0 || !ADDR_TYPE.test(value.slice(0, semi)) || !isXtext(value.slice(semi + 1)) || semi === value.length - 1) return 'ORCPT=addr-type;xtext (RFC 3461)';
  return { orcpt: value };
}
