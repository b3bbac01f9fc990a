/**
 * test/imap/search-corpus.ts: a store with a small fixed corpus for the SEARCH / SORT / THREAD
 * tests, and the scope (what the selected-state code hands the engine) of a folder.
 */
import type { Store } from '../../src/store/store.ts';
import type { Shard } from '../../src/store/shard.ts';
import { searchIndexOf } from '../../src/store/search-index.ts';
import type { SearchMessage, SearchScope } from '../../src/protocols/imap/types.ts';
import type { MailboxApi } from '../../src/store/types.ts';
import { waitFor } from '../helpers.ts';

export const CRLF = (s: string): Buffer => Buffer.from(s.replace(/\r?\n/g, '\r\n'), 'utf8');
export const ACCOUNT = 'ann@example.org';

export function shardOf(store: Store): Shard {
  return (store as unknown as { shards: Shard[] }).shards[0]!;
}

/** Every body queued for indexing written (the index is filled in the background). */
export async function indexed(store: Store): Promise<void> {
  const ix = searchIndexOf(shardOf(store));
  await ix.ready;
  await waitFor(() => ix.pending === 0, 10_000, 'the search index to catch up');
}

export async function scopeOf(mailbox: MailboxApi, folder: string, opts: { saved?: number[]; recent?: number[] } = {}): Promise<SearchScope> {
  const st = await mailbox.status(folder);
  const metas = await mailbox.list(folder);
  const recent = new Set(opts.recent ?? []);
  const messages: SearchMessage[] = metas.map((m, i) => ({ seq: i + 1, uid: m.uid, modseq: m.modseq, flags: m.flags, internalDate: m.internalDate, size: m.size, recent: recent.has(m.uid) }));
  return { mailbox, folder: st.name, uidValidity: st.uidValidity, messages, saved: opts.saved ?? [] };
}

const day = (s: string): number => Date.parse(`${s}T12:00:00Z`);

/** The corpus: [body, internal date, flags]. UIDs 1..6 in INBOX. */
export const CORPUS: Array<[Buffer, number, string[]]> = [
  [CRLF(`From: Ann Example <ann@example.org>
To: bob@example.org
Cc: carl@example.net
Subject: Hello world
Date: Mon, 1 Jan 2024 23:30:00 -0500
Message-ID: <m1@x>

The quick brown fox
`), day('2024-01-02'), ['\\Seen']],
  [CRLF(`From: =?iso-8859-1?Q?J=F6rg?= <jorg@example.de>
To: ann@example.org
Subject: =?utf-8?B?w4TDpMO2?= tidings
Date: Tue, 2 Jan 2024 08:00:00 +0000
Message-ID: <m2@x>
References: <m1@x>
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: base64

${Buffer.from('Grüße aus Köln\n').toString('base64')}
`), day('2024-01-03'), ['\\Flagged']],
  [CRLF(`From: bob@example.org
To: ann@example.org
Subject: Re: Hello world
Date: Wed, 3 Jan 2024 09:00:00 +0000
Message-ID: <m3@x>
In-Reply-To: <m1@x>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b1"

--b1
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

caf=C3=A9 soft=
break
--b1
Content-Type: application/octet-stream
Content-Transfer-Encoding: base64

${Buffer.from('secretword').toString('base64')}
--b1--
`), day('2024-01-04'), ['$Work']],
  [CRLF(`From: dora@example.com
Subject: Myth
X-Custom: Foo Bar
Content-Type: text/plain; charset=utf-8

ΣΊΣΥΦΟΣ was here
`), day('2024-01-05'), ['\\Deleted']],
  [CRLF(`From: eve@example.com
To: ann@example.org
Subject: Fwd: forwarded
Date: Fri, 5 Jan 2024 10:00:00 +0000
Message-ID: <m5@x>
Content-Type: multipart/mixed; boundary="b2"

--b2
Content-Type: text/plain

see below
--b2
Content-Type: message/rfc822

Subject: inner subject
From: zed@example.com

inner needle text
--b2--
`), day('2024-01-06'), []],
  [CRLF(`From: ann@example.org
To: bob@example.org
Subject: Hello world
Date: Sat, 6 Jan 2024 10:00:00 +0000
Message-ID: <m6@x>
References: <m1@x> <m3@x>

reply to the reply
`), day('2024-01-07'), ['\\Seen', '\\Answered']],
];

export async function loadCorpus(store: Store, folder = 'INBOX'): Promise<void> {
  const mb = store.mailbox(ACCOUNT);
  for (const [body, internalDate, flags] of CORPUS) await mb.append(folder, body, { internalDate, flags });
}
