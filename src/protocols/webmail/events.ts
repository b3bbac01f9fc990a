/**
 * webmail/events.ts: `GET /events?f=`: server-sent events for the open folder, from the store's
 * subscription (store/client.ts `Subscription`), so the list shows new mail without a reload
 * (static/list.js):
 *   event: exists   data {uid, row, dateText, sizeText, url}   a message arrived (`row`: its ListRow)
 *   event: flags    data {uid, flags}    one per message whose flags changed
 *   event: expunge  data {uid}
 *   event: counts   data {folder, messages, unseen}   after each change
 *   event: folders  data {}              folders were created, renamed or deleted
 *   event: resync   data {}              events were dropped: read the folder again
 * A comment line every HEARTBEAT_MS keeps proxies and the connection's idle timer from closing
 * it. The subscription is closed when the request closes (the reader left), when the store ends
 * it ('gone'), or when the client does not read: past the service's `maxPendingOutput` bytes
 * waiting, the stream ends (the browser's EventSource reconnects). The stream also ends a little after the
 * session's idle timeout, so an open tab alone does not keep a session alive: the browser's
 * reconnect finds it expired unless the reader did something meanwhile.
 *
 * Exports: `registerEvents`, `HEARTBEAT_MS`, `sseFrame`. Throws nothing.
 */
import { PassThrough } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { HttpEnv } from '../../http/types.ts';
import type { MailboxEvent } from '../../store/types.ts';
import { handled, mailUrl, openFolder, WebError } from './common.ts';
import { shortDate, shortSize, toRow } from './model.ts';
import { summariesOf } from './summaries.ts';
import type { WebmailRoutes } from './types.ts';

export const HEARTBEAT_MS = 25_000;
/** The stream outlives the session's idle timeout by this much. */
const PAST_IDLE_MS = 2000;

/** One SSE frame. */
export function sseFrame(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

export const registerEvents: WebmailRoutes = (app, env) => {
  const guard = { preHandler: async (req: FastifyRequest, reply: FastifyReply): Promise<void> => env.requireSession(req, reply) };

  app.get('/events', guard, handled(env, async (req, reply) => {
    const { mailbox, folder, info } = await openFolder(env, req);
    const user = req.postern.session!.user;
    if (env.store === null) throw new WebError(503, 'the mail store is not available');
    const sub = await env.store.subscribe(user, folder);
    const out = new PassThrough();
    const maxBuffered = req.postern.conn.service.session.maxPendingOutputBytes;
    let open = true;
    const timers: NodeJS.Timeout[] = [];
    const finish = (): void => {
      if (!open) return;
      open = false;
      for (const t of timers) clearInterval(t);
      sub.close();
      out.end();
    };
    const write = (s: string): void => {
      if (!open) return;
      out.write(s);
      if (out.writableLength > maxBuffered) finish(); // a client that does not read
    };
    req.raw.on('close', finish);
    out.on('close', finish);
    out.on('error', finish);
    timers.push(setInterval(() => write(': heartbeat\n\n'), HEARTBEAT_MS));
    const life = setTimeout(finish, env.options().sessionIdleTimeoutMs + PAST_IDLE_MS);
    timers.push(life);

    const counts = async (): Promise<void> => {
      try {
        const st = await mailbox.status(folder);
        write(sseFrame('counts', { folder, messages: st.messages, unseen: st.unseen }));
      } catch {
        /* the folder went away: a 'folders' event follows */
      }
    };
    const handle = async (e: MailboxEvent): Promise<void> => {
      switch (e.kind) {
        case 'append': {
          if (e.folder !== folder) return;
          const sums = await summariesOf(mailbox, folder, info.uidValidity, [e.uid]).catch(() => new Map());
          const row = toRow({ uid: e.uid, flags: e.flags, internalDate: e.internalDate, size: e.size }, sums.get(e.uid));
          write(sseFrame('exists', { uid: e.uid, row, dateText: shortDate(row.date), sizeText: shortSize(row.size), url: mailUrl('/mail/message', { f: folder, uid: e.uid }) }));
          return counts();
        }
        case 'flags':
          if (e.folder !== folder) return;
          for (const c of e.changed) write(sseFrame('flags', { uid: c.uid, flags: c.flags }));
          return counts();
        case 'expunge':
          if (e.folder !== folder) return;
          for (const uid of e.uids) write(sseFrame('expunge', { uid }));
          return counts();
        case 'folders':
          return write(sseFrame('folders', {}));
        case 'resync':
          return write(sseFrame('resync', {}));
        case 'gone':
          return finish();
      }
    };

    void (async () => {
      try {
        for await (const e of sub) {
          if (!open) break;
          await handle(e);
        }
      } catch (err) {
        env.log.debug({ err }, 'webmail: event stream ended');
      } finally {
        finish();
      }
    })();

    reply
      .header('content-type', 'text/event-stream; charset=utf-8')
      .header('cache-control', 'no-store')
      .header('x-accel-buffering', 'no');
    out.write(`retry: 5000\n: subscribed\n\n`);
    return reply.send(out);
  }));
};
