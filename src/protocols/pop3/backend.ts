/**
 * protocols/pop3/backend.ts: the POP3 back end's entry (Dovecot's `pop3` after `pop3-login`):
 * given the account the login pipeline (auth/login.ts) resolved, open its maildrop (a snapshot;
 * with pop3ExclusiveLock a second session gets `-ERR [IN-USE]`) and enter the TRANSACTION state.
 * Until then the session holds no storage handle. A store that cannot open the maildrop is
 * `-ERR [SYS/TEMP]`; a session closed meanwhile releases it at once.
 *
 * Exports: `openMaildrop(s, account)`. Throws nothing (failures are replies).
 */
import { isPosternError } from '../../errors.ts';
import { noreply, reply, type Verdict } from '../../session/line-session.ts';
import type { AccountInfo } from '../../store/types.ts';
import { Maildrop } from './maildrop.ts';
import type { Pop3Session, Pop3State } from './session.ts';

export async function openMaildrop(s: Pop3Session, account: AccountInfo): Promise<Verdict<Pop3State>> {
  const store = s.ctx.store;
  if (store === null) return reply('-ERR [SYS/TEMP] the mail store is not available\r\n');
  let drop: Maildrop;
  try {
    drop = await Maildrop.open(store.mailbox(account.address), s.ctx.log, s.data.opts.exclusiveLock);
  } catch (e) {
    if (isPosternError(e, 'STORE_LOCKED')) return reply('-ERR [IN-USE] maildrop already locked by another session\r\n');
    s.ctx.log.warn({ err: e, account: account.address }, 'pop3: cannot open the maildrop');
    return reply('-ERR [SYS/TEMP] cannot open the maildrop now, try again later\r\n');
  }
  if (s.data.closed) {
    drop.close();
    return noreply();
  }
  s.data.drop = drop;
  s.data.account = account.address;
  const st = drop.stat();
  return reply(`+OK logged in, ${st.messages} messages (${st.octets} octets)\r\n`, { state: 'transaction' });
}
