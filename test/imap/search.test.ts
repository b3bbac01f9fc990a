/**
 * test/imap/search.test.ts: the SEARCH engine (src/protocols/imap/search.ts) over a store's
 * search index (src/store/search-index.ts): every key, OR/NOT nesting, dates by day, header
 * search over encoded words, BODY/TEXT over base64 and quoted-printable parts, MODSEQ, `$`,
 * the SEARCH and ESEARCH reply forms; the index kept right across append, expunge, move, copy
 * and a restart (read back, and rebuilt when its file is gone); the same answers from the
 * bodies when there is no index; and SEARCH over 10,000 messages within 1 s.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { openStore, withAccount } from '../store/helpers.ts';
import { ACCOUNT, CRLF, indexed, loadCorpus, scopeOf, shardOf } from './search-corpus.ts';
import { charsetSupported, formatSearch, runSearch, sequenceSetText, usesModseq, DAY_MS } from '../../src/protocols/imap/search.ts';
import { searchIndexOf } from '../../src/store/search-index.ts';
import { NO_CAPS, TEXT_CAPS, TRUNCATED, buildRecord } from '../../src/store/search-text.ts';
import { parseStructure } from '../../src/store/structure.ts';
import { serveStoreClient } from '../../src/store/protocol.ts';
import { StoreClient } from '../../src/store/client.ts';
import { MessageChannel } from 'node:worker_threads';
import { baseSubject, formatSort, runSort } from '../../src/protocols/imap/sort.ts';
import { formatThread, runThread, type ThreadNode } from '../../src/protocols/imap/thread.ts';
import type { SearchKey, SearchMessage, SearchScope, SortCriterion } from '../../src/protocols/imap/types.ts';
import type { MailboxApi } from '../../src/store/types.ts';
import type { Store } from '../../src/store/store.ts';

const uids = async (key: SearchKey, scope: SearchScope): Promise<number[]> => (await runSearch(key, scope)).map((m) => m.uid);
const d = (s: string): number => Date.parse(`${s}T00:00:00Z`);
const H = (field: string, value: string): SearchKey => ({ k: 'header', field, value });

async function corpusStore(): Promise<{ store: Store; dataDir: string }> {
  const { store, dataDir } = await withAccount({ shards: 1 });
  await loadCorpus(store);
  await indexed(store);
  return { store, dataDir };
}

/** The same mailbox without a search index: every answer comes from the bodies. */
function withoutIndex(mb: MailboxApi): MailboxApi {
  return new Proxy(mb, { get: (t, p) => (p === 'searchIndex' ? undefined : Reflect.get(t, p, t)) }) as MailboxApi;
}

test('flags, sequence sets, UIDs, $, OR / NOT nesting, sizes, modseq', async () => {
  const { store } = await corpusStore();
  try {
    const s = await scopeOf(store.mailbox(ACCOUNT), 'INBOX', { saved: [2, 5, 99], recent: [5, 6] });
    assert.deepEqual(await uids({ k: 'all' }, s), [1, 2, 3, 4, 5, 6]);
    assert.deepEqual(await uids({ k: 'flag', flag: '\\Seen', set: true }, s), [1, 6]);
    assert.deepEqual(await uids({ k: 'flag', flag: '\\seen', set: false }, s), [2, 3, 4, 5]);
    assert.deepEqual(await uids({ k: 'flag', flag: '$work', set: true }, s), [3]);
    assert.deepEqual(await uids({ k: 'flag', flag: '\\Deleted', set: true }, s), [4]);
    assert.deepEqual(await uids({ k: 'flag', flag: '\\Answered', set: true }, s), [6]);
    assert.deepEqual(await uids({ k: 'recent', set: true }, s), [5, 6]);
    assert.deepEqual(await uids({ k: 'recent', set: false }, s), [1, 2, 3, 4]);
    assert.deepEqual(await uids({ k: 'new' }, s), [5]);
    assert.deepEqual(await uids({ k: 'seq', set: [{ from: 2, to: 3 }, { from: '*', to: '*' }] }, s), [2, 3, 6]);
    assert.deepEqual(await uids({ k: 'seq', set: [{ from: '*', to: 5 }] }, s), [5, 6]);
    assert.deepEqual(await uids({ k: 'seq', set: [{ from: 9, to: 12 }] }, s), []);
    assert.deepEqual(await uids({ k: 'uid', set: [{ from: 4, to: '*' }] }, s), [4, 5, 6]);
    assert.deepEqual(await uids({ k: 'uid', set: [{ from: 100, to: '*' }] }, s), [6], 'n:* with n past the last UID is the last message');
    assert.deepEqual(await uids({ k: 'uid', set: '$' }, s), [2, 5]);
    assert.deepEqual(await uids({ k: 'seq', set: '$' }, s), [2, 5]);
    const big = await uids({ k: 'size', op: 'larger', n: 400 }, s);
    assert.ok(big.length > 0 && big.length < 6);
    const small = await uids({ k: 'size', op: 'smaller', n: 400 }, s);
    assert.deepEqual([...big, ...small].sort((a, b) => a - b), [1, 2, 3, 4, 5, 6].filter((u) => s.messages[u - 1]!.size !== 400));
    // OR / NOT nesting: NOT (SEEN OR FLAGGED) and (UID 1:4 OR NOT DELETED)
    const key: SearchKey = {
      k: 'and', keys: [
        { k: 'not', key: { k: 'or', a: { k: 'flag', flag: '\\Seen', set: true }, b: { k: 'flag', flag: '\\Flagged', set: true } } },
        { k: 'or', a: { k: 'uid', set: [{ from: 1, to: 3 }] }, b: { k: 'not', key: { k: 'flag', flag: '\\Deleted', set: true } } },
      ],
    };
    assert.deepEqual(await uids(key, s), [3, 5]);
    assert.deepEqual(await uids({ k: 'not', key: { k: 'not', key: { k: 'uid', set: [{ from: 2, to: 2 }] } } }, s), [2]);
    // a scope lacking sequence number 3 (expunged in the store, still known to the client)
    const gap: SearchScope = { ...s, messages: s.messages.filter((m) => m.seq !== 3) };
    assert.deepEqual(await uids({ k: 'seq', set: [{ from: 2, to: 4 }] }, gap), [2, 4]);
    assert.deepEqual(await uids({ k: 'seq', set: [{ from: '*', to: '*' }] }, gap), [6]);
    assert.deepEqual(await uids({ k: 'text', value: 'hello world' }, gap), [1, 6]);
    // MODSEQ: a flag change raises one message's modseq
    const r = await store.mailbox(ACCOUNT).setFlags('INBOX', [3], ['\\Seen'], 'add');
    const s2 = await scopeOf(store.mailbox(ACCOUNT), 'INBOX');
    assert.deepEqual(await uids({ k: 'modseq', modseq: r.modseq }, s2), [3]);
    assert.equal(usesModseq({ k: 'and', keys: [{ k: 'all' }, { k: 'not', key: { k: 'modseq', modseq: 1 } }] }), true);
    assert.equal(usesModseq({ k: 'all' }), false);
    // OLDER / YOUNGER (RFC 5032): every corpus message is from 2024
    assert.deepEqual(await uids({ k: 'within', op: 'younger', seconds: 3600 }, s), []);
    assert.deepEqual(await uids({ k: 'within', op: 'older', seconds: 3600 }, s), [1, 2, 3, 4, 5, 6]);
  } finally {
    await store.close();
  }
});

test('dates compare by day: internal date in UTC, the Date: header as written, internal date when it has none', async () => {
  const { store } = await corpusStore();
  try {
    const s = await scopeOf(store.mailbox(ACCOUNT), 'INBOX');
    assert.deepEqual(await uids({ k: 'date', which: 'internal', op: 'on', date: d('2024-01-03') }, s), [2]);
    assert.deepEqual(await uids({ k: 'date', which: 'internal', op: 'before', date: d('2024-01-03') }, s), [1]);
    assert.deepEqual(await uids({ k: 'date', which: 'internal', op: 'since', date: d('2024-01-06') }, s), [5, 6]);
    // message 1 was sent on Jan 1 at 23:30 -0500 (Jan 2 in UTC): its sent day is Jan 1
    assert.deepEqual(await uids({ k: 'date', which: 'sent', op: 'on', date: d('2024-01-01') }, s), [1]);
    assert.deepEqual(await uids({ k: 'date', which: 'sent', op: 'before', date: d('2024-01-02') }, s), [1]);
    assert.deepEqual(await uids({ k: 'date', which: 'sent', op: 'since', date: d('2024-01-05') }, s), [4, 5, 6], 'message 4 has no Date: its internal date (Jan 5) counts');
    assert.deepEqual(await uids({ k: 'date', which: 'sent', op: 'on', date: d('2024-01-05') }, s), [4, 5]);
    assert.equal(DAY_MS, 86_400_000);
  } finally {
    await store.close();
  }
});

test('header keys: encoded words decoded, case-insensitive, the named field only, "" for presence', async () => {
  const { store } = await corpusStore();
  try {
    for (const mb of [store.mailbox(ACCOUNT), withoutIndex(store.mailbox(ACCOUNT))]) {
      const s = await scopeOf(mb, 'INBOX');
      assert.deepEqual(await uids(H('FROM', 'jörg'), s), [2], 'Q-encoded iso-8859-1 word');
      assert.deepEqual(await uids(H('FROM', 'JÖRG'), s), [2], 'non-ASCII case folded');
      assert.deepEqual(await uids(H('SUBJECT', 'ääö TID'), s), [2], 'B-encoded utf-8 word');
      assert.deepEqual(await uids(H('SUBJECT', 'hello'), s), [1, 3, 6]);
      assert.deepEqual(await uids(H('FROM', 'hello'), s), [], 'a subject word is not in From');
      assert.deepEqual(await uids(H('TO', 'ann@'), s), [2, 3, 5]);
      assert.deepEqual(await uids(H('CC', 'carl'), s), [1]);
      assert.deepEqual(await uids(H('BCC', ''), s), []);
      assert.deepEqual(await uids(H('X-CUSTOM', ''), s), [4], 'HEADER name "" matches messages having the field');
      assert.deepEqual(await uids(H('X-CUSTOM', 'foo b'), s), [4]);
      assert.deepEqual(await uids(H('MESSAGE-ID', '<m3@x>'), s), [3]);
      assert.deepEqual(await uids(H('REFERENCES', 'm1@x'), s), [2, 6]);
      assert.deepEqual(await uids(H('SUBJECT', 'x-custom'), s), []);
      assert.deepEqual(await uids(H('SUBJECT', 'inner'), s), [], 'an attached message\'s header is not the message\'s');
      assert.deepEqual(await uids({ k: 'or', a: H('FROM', 'dora'), b: H('FROM', 'eve') }, s), [4, 5]);
    }
  } finally {
    await store.close();
  }
});

test('BODY and TEXT: base64 and quoted-printable decoded, charsets to UTF-8, attachments not text, case folded', async () => {
  const { store } = await corpusStore();
  try {
    for (const mb of [store.mailbox(ACCOUNT), withoutIndex(store.mailbox(ACCOUNT))]) {
      const s = await scopeOf(mb, 'INBOX');
      assert.deepEqual(await uids({ k: 'body', value: 'GRÜSSE' }, s), [], 'simple folding does not expand ß');
      assert.deepEqual(await uids({ k: 'body', value: 'GRÜßE aus' }, s), [2], 'base64 utf-8 part');
      assert.deepEqual(await uids({ k: 'body', value: 'café softbreak' }, s), [3], 'quoted-printable with a soft line break');
      assert.deepEqual(await uids({ k: 'body', value: 'secretword' }, s), [], 'an application/octet-stream part is not searched');
      assert.deepEqual(await uids({ k: 'body', value: 'σίσυφος' }, s), [4], 'Greek capitals, final sigma');
      assert.deepEqual(await uids({ k: 'body', value: 'inner needle' }, s), [5], 'an attached message\'s text');
      assert.deepEqual(await uids({ k: 'body', value: 'hello' }, s), [], 'BODY is not the header');
      assert.deepEqual(await uids({ k: 'text', value: 'hello world' }, s), [1, 3, 6], 'TEXT includes the header');
      assert.deepEqual(await uids({ k: 'text', value: 'quick brown' }, s), [1]);
      assert.deepEqual(await uids({ k: 'text', value: '' }, s), [1, 2, 3, 4, 5, 6]);
      assert.deepEqual(await uids({ k: 'and', keys: [{ k: 'text', value: 'hello' }, { k: 'flag', flag: '\\Seen', set: false }] }, s), [3]);
      assert.deepEqual(await uids({ k: 'not', key: { k: 'text', value: 'e' } }, s), []);
    }
  } finally {
    await store.close();
  }
});

test('CHARSET: UTF-8 and US-ASCII (any case) or none; others refused', () => {
  assert.equal(charsetSupported(null), true);
  assert.equal(charsetSupported('utf-8'), true);
  assert.equal(charsetSupported('US-ASCII'), true);
  assert.equal(charsetSupported('ISO-8859-1'), false);
});

test('SEARCH and ESEARCH replies: MIN MAX COUNT ALL, UID, MODSEQ, SAVE alone, no match', () => {
  const m = (seq: number, uid: number, modseq: number): SearchMessage => ({ seq, uid, modseq, flags: [], internalDate: 0, size: 1, recent: false });
  const ms = [m(1, 10, 5), m(2, 11, 9), m(3, 12, 7), m(5, 20, 6)];
  assert.equal(formatSearch(ms, { uid: false, returns: null, tag: 'a', modseq: false }), '* SEARCH 1 2 3 5\r\n');
  assert.equal(formatSearch(ms, { uid: true, returns: null, tag: 'a', modseq: true }), '* SEARCH 10 11 12 20 (MODSEQ 9)\r\n');
  assert.equal(formatSearch([], { uid: false, returns: null, tag: 'a', modseq: true }), '* SEARCH\r\n');
  assert.equal(formatSearch(ms, { uid: false, returns: [], tag: 'A282', modseq: false }), '* ESEARCH (TAG "A282") ALL 1:3,5\r\n');
  assert.equal(formatSearch(ms, { uid: true, returns: ['MIN', 'MAX', 'COUNT'], tag: 'A283', modseq: false }), '* ESEARCH (TAG "A283") UID MIN 10 MAX 20 COUNT 4\r\n');
  assert.equal(formatSearch(ms, { uid: true, returns: ['ALL'], tag: 't', modseq: true }), '* ESEARCH (TAG "t") UID ALL 10:12,20 MODSEQ 9\r\n');
  assert.equal(formatSearch(ms, { uid: false, returns: ['MIN'], tag: 't', modseq: true }), '* ESEARCH (TAG "t") MIN 1 MODSEQ 5\r\n');
  assert.equal(formatSearch([], { uid: false, returns: ['MIN', 'MAX', 'COUNT', 'ALL'], tag: 't', modseq: true }), '* ESEARCH (TAG "t") COUNT 0\r\n');
  assert.equal(formatSearch([], { uid: true, returns: ['ALL'], tag: 't', modseq: false }), '* ESEARCH (TAG "t") UID\r\n');
  assert.equal(formatSearch(ms, { uid: false, returns: ['SAVE'], tag: 't', modseq: false }), '', 'SAVE alone: no ESEARCH (RFC 5182)');
  assert.equal(formatSearch(ms, { uid: false, returns: ['SAVE', 'COUNT'], tag: 't', modseq: false }), '* ESEARCH (TAG "t") COUNT 4\r\n');
  assert.equal(sequenceSetText([1, 2, 3, 7, 9, 10]), '1:3,7,9:10');
  assert.equal(sequenceSetText([]), '');
});

test('the index follows append, copy, move, expunge, and a restart (read back; rebuilt when its file is gone)', async () => {
  const { store, dataDir } = await corpusStore();
  let reopened: Store | null = null;
  try {
    const mb = store.mailbox(ACCOUNT);
    await mb.createFolder('Saved');
    await mb.append('INBOX', CRLF('Subject: late\r\n\r\nappended zebra\r\n'));
    await mb.copy('INBOX', [1], 'Saved');
    await mb.move('INBOX', [2], 'Saved');
    await mb.appendMany('INBOX', [{ body: CRLF('Subject: multi one\r\n\r\nmultiappended okapi\r\n') }, { body: CRLF('Subject: multi two\r\n\r\nmultiappended okapi\r\n') }]);
    await mb.expunge('INBOX', { uids: [3] });
    await indexed(store);
    let s = await scopeOf(mb, 'INBOX');
    assert.deepEqual(await uids({ k: 'body', value: 'zebra' }, s), [7]);
    assert.deepEqual(await uids({ k: 'text', value: 'hello world' }, s), [1, 6]);
    assert.deepEqual(await uids({ k: 'body', value: 'café' }, s), [], 'expunged');
    assert.deepEqual(await uids({ k: 'body', value: 'okapi' }, s), [8, 9], 'MULTIAPPEND');
    let a = await scopeOf(mb, 'Saved');
    assert.deepEqual(await uids({ k: 'body', value: 'quick brown' }, a), [1], 'the copy shares its body\'s record');
    assert.deepEqual(await uids(H('FROM', 'jörg'), a), [2], 'moved');
    const view = await mb.searchIndex!('INBOX');
    assert.ok(view.data.length > 0 && [...view.data].filter((_, i) => i % 6 === 1).every((p) => p >= 0), 'every INBOX message has a record');
    await store.close();

    ({ store: reopened } = await openStore(dataDir, { shards: 1 }));
    const ix = searchIndexOf(shardOf(reopened));
    await ix.ready;
    assert.ok(ix.stats().scanned >= 9, 'records read back from the file');
    assert.equal(ix.stats().caughtUp, 0, 'nothing had to be indexed again');
    s = await scopeOf(reopened.mailbox(ACCOUNT), 'INBOX');
    assert.deepEqual(await uids({ k: 'body', value: 'zebra' }, s), [7]);
    a = await scopeOf(reopened.mailbox(ACCOUNT), 'Saved');
    assert.deepEqual(await uids(H('SUBJECT', 'ääö'), a), [2]);
    await reopened.close();

    // the file gone: catch-up indexes every message from its body
    fs.rmSync(path.join(dataDir, 'store', 'shards', fs.readdirSync(path.join(dataDir, 'store', 'shards'))[0]!, 'search-1.idx'));
    ({ store: reopened } = await openStore(dataDir, { shards: 1 }));
    const ix2 = searchIndexOf(shardOf(reopened));
    await ix2.ready;
    assert.ok(ix2.stats().caughtUp >= 6, `bodies indexed again: ${ix2.stats().caughtUp}`);
    s = await scopeOf(reopened.mailbox(ACCOUNT), 'INBOX');
    assert.deepEqual(await uids({ k: 'text', value: 'hello world' }, s), [1, 6]);
    assert.deepEqual(await uids({ k: 'body', value: 'σίσυφος' }, s), [4]);
  } finally {
    await store.close().catch(() => {});
    await reopened?.close().catch(() => {});
  }
});

test('compaction moves bodies: their records follow them, now and after a restart (nothing indexed again)', async () => {
  const { store, dataDir } = await corpusStore();
  let again: Store | null = null;
  try {
    const mb = store.mailbox(ACCOUNT);
    await mb.createFolder('Keep');
    await mb.copy('INBOX', [1, 2, 3], 'Keep');
    await mb.expunge('INBOX', { uids: [1, 2, 3, 4, 5, 6] });
    const before = (await mb.list('Keep')).map((m) => `${m.locator.path}:${m.locator.offset}`);
    const r = await store.compact();
    assert.ok(r.segmentsRemoved >= 1);
    assert.notDeepEqual((await mb.list('Keep')).map((m) => `${m.locator.path}:${m.locator.offset}`), before, 'the bodies moved');
    const view = await mb.searchIndex!('Keep');
    assert.deepEqual([view.data[1]! >= 0, view.data[7]! >= 0, view.data[13]! >= 0], [true, true, true], 'every moved body still has its record');
    const s = await scopeOf(mb, 'Keep');
    assert.deepEqual(await uids({ k: 'body', value: 'café' }, s), [3]);
    assert.deepEqual(await uids(H('FROM', 'jörg'), s), [2]);
    await store.close();
    ({ store: again } = await openStore(dataDir, { shards: 1 }));
    const ix = searchIndexOf(shardOf(again));
    await ix.ready;
    assert.equal(ix.stats().caughtUp, 0, 'the ALIAS records carried the moves');
    const s2 = await scopeOf(again.mailbox(ACCOUNT), 'Keep');
    assert.deepEqual(await uids({ k: 'text', value: 'hello world' }, s2), [1, 3]);
  } finally {
    await store.close().catch(() => {});
    await again?.close().catch(() => {});
  }
});

test('through a StoreClient (another thread\'s view of the store): the same answers from the index', async () => {
  const { store } = await corpusStore();
  const { port1, port2 } = new MessageChannel();
  const served = serveStoreClient(store, port1, 'imap-search-test');
  const client = new StoreClient(port2);
  try {
    const mb = client.mailbox(ACCOUNT);
    const view = await mb.searchIndex!('INBOX');
    assert.ok(view.data instanceof Float64Array && view.data.length === 6 * 6);
    const s = await scopeOf(mb, 'INBOX');
    assert.deepEqual(await uids({ k: 'body', value: 'café softbreak' }, s), [3]);
    assert.deepEqual(await uids(H('SUBJECT', 'ÄÄÖ'), s), [2]);
    assert.deepEqual((await runSort([{ key: 'SUBJECT', reverse: false }], { k: 'all' }, s)).map((m) => m.seq), [5, 1, 3, 6, 4, 2]);
  } finally {
    client.close();
    served.close();
    port1.close();
    await store.close();
  }
});

test('dead records are reclaimed: the live ones copied into the next file, searches right during and after, and after a restart', async () => {
  const { store, dataDir } = await withAccount({ shards: 1 });
  let again: Store | null = null;
  try {
    const mb = store.mailbox(ACCOUNT);
    const filler = 'padding words '.repeat(300);
    for (let i = 1; i <= 40; i++) await mb.append('INBOX', CRLF(`Subject: n${i}\r\n\r\n${filler}\r\nkeyword${i}\r\n`));
    await mb.expunge('INBOX', { uids: Array.from({ length: 35 }, (_, k) => k + 1) });
    await indexed(store);
    const ix = searchIndexOf(shardOf(store));
    await ix.maintain(); // drops the expunged bodies' entries
    const s = await scopeOf(mb, 'INBOX');
    const oldPath = (await mb.searchIndex!('INBOX')).path;
    // a search that learnt the old file's place just before the switch still reads it
    const [r, sizes] = await Promise.all([uids({ k: 'body', value: 'keyword38' }, s), ix.rewrite()]);
    assert.deepEqual(r, [38]);
    assert.ok(sizes.after < sizes.before / 4, `rewritten: ${sizes.before} → ${sizes.after} bytes`);
    assert.equal(ix.stats().rewrites, 1);
    const view = await mb.searchIndex!('INBOX');
    assert.notEqual(view.path, oldPath);
    assert.ok(path.basename(view.path) === 'search-2.idx');
    assert.deepEqual(await uids({ k: 'body', value: 'keyword36' }, s), [36]);
    assert.deepEqual(await uids({ k: 'body', value: 'keyword12' }, s), [], 'expunged');
    // a search told of a file that is gone by the time it opens it reads the bodies instead
    const stale = new Proxy(mb, {
      get: (t, p) => (p === 'searchIndex' ? async (f: string) => ({ ...(await t.searchIndex!(f)), path: oldPath + '.gone' }) : Reflect.get(t, p, t)),
    }) as MailboxApi;
    const st = await scopeOf(stale, 'INBOX');
    assert.deepEqual(await uids({ k: 'body', value: 'keyword39' }, st), [39]);
    assert.deepEqual((await runSort([{ key: 'SUBJECT', reverse: true }], { k: 'all' }, st)).map((m) => m.uid), [40, 39, 38, 37, 36]);
    assert.deepEqual(await uids({ k: 'text', value: 'n40' }, s), [40]);
    await mb.append('INBOX', CRLF('Subject: after\r\n\r\nafter the rewrite\r\n'));
    await indexed(store);
    await store.close();
    assert.ok(!fs.existsSync(oldPath), 'the old generation is gone');
    ({ store: again } = await openStore(dataDir, { shards: 1 }));
    const ix2 = searchIndexOf(shardOf(again));
    await ix2.ready;
    assert.equal(ix2.stats().caughtUp, 0, 'the new file holds every live body');
    const s2 = await scopeOf(again.mailbox(ACCOUNT), 'INBOX');
    assert.deepEqual(await uids({ k: 'body', value: 'keyword37' }, s2), [37]);
    assert.deepEqual(await uids({ k: 'body', value: 'after the rewrite' }, s2), [41]);
  } finally {
    await store.close().catch(() => {});
    await again?.close().catch(() => {});
  }
});

test('searchTextChars: a message whose text passes the cap is flagged, and still found (from its body)', async () => {
  const { store } = await withAccount({ shards: 1, searchTextChars: 2000 });
  try {
    const mb = store.mailbox(ACCOUNT);
    await mb.append('INBOX', CRLF(`Subject: long\r\n\r\n${'lorem ipsum '.repeat(300)}\r\nfar away needle\r\n`));
    await mb.append('INBOX', CRLF('Subject: short\r\n\r\nnear needle\r\n'));
    await indexed(store);
    const view = await mb.searchIndex!('INBOX');
    assert.equal(view.data[5], TRUNCATED, 'the long one is cut');
    assert.equal(view.data[6 + 5], 0);
    assert.ok(view.data[2]! < 2000 + 200, `its record is capped: ${view.data[2]} bytes`);
    const s = await scopeOf(mb, 'INBOX');
    assert.deepEqual(await uids({ k: 'body', value: 'far away needle' }, s), [1]);
    assert.deepEqual(await uids({ k: 'body', value: 'needle' }, s), [1, 2]);
    assert.deepEqual(await uids({ k: 'body', value: 'not there at all' }, s), []);
  } finally {
    await store.close();
  }
});

test('a hostile message costs a bounded record: parts decoded up to a budget, header read up to its cap', () => {
  const junk = '!'.repeat(600 * 1024); // base64 that decodes to nothing: no text, all the work
  let m = 'Subject: hostile\r\nContent-Type: multipart/mixed; boundary="h"\r\n\r\n';
  for (let i = 0; i < 12; i++) m += `--h\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n${junk}\r\n`;
  m += '--h\r\nContent-Type: text/plain\r\n\r\nlast part needle\r\n--h--\r\n';
  const body = Buffer.from(m);
  const rec = buildRecord(body, parseStructure(body), 1, 0);
  assert.equal(rec.readUInt32LE(28) & TRUNCATED, TRUNCATED, 'flagged: the engine reads the body when the record does not match');
  assert.ok(!rec.includes('needle'), 'parts past the decoding budget are not in the record');
  const full = buildRecord(body, parseStructure(body), 1, 0, NO_CAPS);
  assert.ok(full.includes('last part needle'), 'the uncapped record (the engine\'s fallback) has it');
  const big = Buffer.from(`Subject: x\r\n${'X-Pad: aaaaaaaa\r\n'.repeat(8000)}From: late@example.org\r\n\r\nbody\r\n`);
  const hr = buildRecord(big, parseStructure(big), 1, 0);
  assert.equal(hr.readUInt32LE(28) & TRUNCATED, TRUNCATED);
  assert.ok(hr.readUInt32LE(24) <= TEXT_CAPS.headerChars * 4, 'header text capped');
});

test('SEARCH TEXT / FROM / SINCE over 10,000 messages answers within 1 s', async () => {
  const { store } = await withAccount({ shards: 1 });
  try {
    const mb = store.mailbox(ACCOUNT);
    const filler = 'Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore. '.repeat(38);
    const N = 10_000;
    const t0 = performance.now();
    for (let i = 0; i < N; i += 500) {
      await Promise.all(Array.from({ length: Math.min(500, N - i) }, (_, k) => {
        const n = i + k;
        return mb.append('INBOX', CRLF(`From: sender${n % 100}@example.com\nTo: ann@example.org\nSubject: message ${n}\nDate: Mon, 1 Jan 2024 10:00:00 +0000\n\n${filler}\nword${n}\n`), { internalDate: Date.UTC(2024, 0, 1) + n * 60_000 });
      }));
    }
    await indexed(store);
    const built = performance.now() - t0;
    const s = await scopeOf(mb, 'INBOX');
    assert.equal(s.messages.length, N);
    const timed = async (key: SearchKey): Promise<[number, number]> => {
      const t = performance.now();
      const r = await runSearch(key, s);
      return [r.length, performance.now() - t];
    };
    const [nText, tText] = await timed({ k: 'text', value: 'word9999' });
    const [nFrom, tFrom] = await timed(H('FROM', 'sender42@'));
    const [nSince, tSince] = await timed({ k: 'date', which: 'internal', op: 'since', date: d('2024-01-07') });
    const [nMiss, tMiss] = await timed({ k: 'body', value: 'no such words' });
    console.log(`10k messages: built ${Math.round(built)} ms; TEXT ${tText.toFixed(1)} ms, FROM ${tFrom.toFixed(1)} ms, SINCE ${tSince.toFixed(1)} ms, BODY miss ${tMiss.toFixed(1)} ms`);
    assert.equal(nText, 1);
    assert.equal(nFrom, 100);
    assert.ok(nSince > 0 && nSince < N);
    assert.equal(nMiss, 0);
    for (const t of [tText, tFrom, tSince, tMiss]) assert.ok(t < 1000, `answered in ${t} ms`);
  } finally {
    await store.close();
  }
});

// ---- SORT and THREAD ----

const seqs = (ms: readonly SearchMessage[]): number[] => ms.map((m) => m.seq);

test('SORT: every criterion, REVERSE, several criteria, with a search key (RFC 5256, RFC 5957)', async () => {
  const { store } = await corpusStore();
  try {
    const s = await scopeOf(store.mailbox(ACCOUNT), 'INBOX');
    const all: SearchKey = { k: 'all' };
    const sort = async (...c: Array<[SortCriterion, boolean?]>): Promise<number[]> => seqs(await runSort(c.map(([key, reverse]) => ({ key, reverse: reverse ?? false })), all, s));
    assert.deepEqual(await sort(['ARRIVAL']), [1, 2, 3, 4, 5, 6]);
    assert.deepEqual(await sort(['ARRIVAL', true]), [6, 5, 4, 3, 2, 1]);
    assert.deepEqual(await sort(['DATE']), [1, 2, 3, 5, 4, 6], 'message 4 has no Date: its internal date (Jan 5 12:00) sorts it after 5 (Jan 5 10:00)');
    assert.deepEqual(await sort(['DATE', true]), [6, 4, 5, 3, 2, 1]);
    assert.deepEqual(await sort(['SUBJECT']), [5, 1, 3, 6, 4, 2], 'base subjects: Re: and Fwd: cut, encoded words decoded');
    assert.deepEqual(await sort(['SUBJECT'], ['DATE', true]), [5, 6, 3, 1, 4, 2]);
    assert.deepEqual(await sort(['FROM']), [1, 6, 3, 4, 5, 2], 'by the first From address\'s mailbox');
    assert.deepEqual(await sort(['TO']), [4, 2, 3, 5, 1, 6], 'no To sorts first');
    assert.deepEqual(await sort(['CC']), [2, 3, 4, 5, 6, 1]);
    assert.deepEqual(await sort(['DISPLAYFROM']), [1, 6, 3, 4, 5, 2], '"ann example" < "ann@example.org" < "bob@…" < … < "jörg"');
    assert.deepEqual(await sort(['DISPLAYTO']), [4, 2, 3, 5, 1, 6]);
    const bySize = await sort(['SIZE']);
    const sizes = bySize.map((q) => s.messages[q - 1]!.size);
    assert.deepEqual(sizes, [...sizes].sort((a, b) => a - b));
    assert.deepEqual(seqs(await runSort([{ key: 'DATE', reverse: false }], { k: 'flag', flag: '\\Seen', set: false }, s)), [2, 3, 5, 4]);
    const sorted = await runSort([{ key: 'DATE', reverse: true }], { k: 'all' }, s);
    assert.equal(formatSort(sorted, false), '* SORT 6 4 5 3 2 1\r\n');
    assert.equal(formatSort([], true), '* SORT\r\n');
  } finally {
    await store.close();
  }
});

test('base subject extraction (RFC 5256 §2.1)', () => {
  const b = (x: string): [string, boolean] => {
    const r = baseSubject(x);
    return [r.base, r.reply];
  };
  assert.deepEqual(b('hello'), ['hello', false]);
  assert.deepEqual(b('re: hello'), ['hello', true]);
  assert.deepEqual(b('RE:  Fwd:  Re[2]: hello'), ['hello', true]);
  assert.deepEqual(b('[list] re: hello (fwd)'), ['hello', true]);
  assert.deepEqual(b('[fwd: re: hello]'), ['hello', true]);
  assert.deepEqual(b('[list] hello'), ['hello', false]);
  assert.deepEqual(b('[only a blob]'), ['[only a blob]', false], 'a blob is kept when nothing would be left');
  assert.deepEqual(b('hello  \t world   '), ['hello world', false]);
  assert.deepEqual(b('re:'), ['', true]);
});

test('THREAD ORDEREDSUBJECT and REFERENCES on the corpus', async () => {
  const { store } = await corpusStore();
  try {
    const s = await scopeOf(store.mailbox(ACCOUNT), 'INBOX');
    assert.equal(formatThread(await runThread('ORDEREDSUBJECT', { k: 'all' }, s), false), '* THREAD (1 (3)(6))(2)(5)(4)\r\n');
    // 2 and 3 refer to 1 (References, In-Reply-To), 6 to 1 then 3
    assert.equal(formatThread(await runThread('REFERENCES', { k: 'all' }, s), false), '* THREAD (1 (2)(3 6))(5)(4)\r\n');
    assert.equal(formatThread(await runThread('REFERENCES', { k: 'all' }, s), true), '* THREAD (1 (2)(3 6))(5)(4)\r\n');
    // only some messages: 3 is left out, 6's parent chain still goes through it (a dummy, pruned)
    assert.equal(formatThread(await runThread('REFERENCES', { k: 'not', key: { k: 'uid', set: [{ from: 3, to: 3 }] } }, s), false), '* THREAD (1 (2)(6))(5)(4)\r\n');
    assert.equal(formatThread(await runThread('REFERENCES', { k: 'uid', set: [{ from: 99, to: 99 }] }, s), false), '* THREAD\r\n');
  } finally {
    await store.close();
  }
});

test('THREAD REFERENCES: subject gathering (reply under original, two originals under a dummy) and a dummy parent of two', async () => {
  const { store } = await withAccount({ shards: 1 });
  try {
    const mb = store.mailbox(ACCOUNT);
    const m = (subject: string, date: string, id: string, extra = ''): Buffer => CRLF(`From: x@example.org\nSubject: ${subject}\nDate: ${date}\nMessage-ID: <${id}>\n${extra}\nbody\n`);
    await mb.append('INBOX', m('Lunch', 'Mon, 1 Jan 2024 10:00:00 +0000', 'a1@x'));
    await mb.append('INBOX', m('Re: Lunch', 'Mon, 1 Jan 2024 11:00:00 +0000', 'b1@x'));
    await mb.append('INBOX', m('Lunch', 'Mon, 1 Jan 2024 12:00:00 +0000', 'c1@x'));
    await mb.append('INBOX', m('Re: Dinner', 'Tue, 2 Jan 2024 10:00:00 +0000', 'd1@x', 'References: <missing@x>'));
    await mb.append('INBOX', m('Re: Dinner', 'Tue, 2 Jan 2024 11:00:00 +0000', 'e1@x', 'References: <missing@x>'));
    await indexed(store);
    const s = await scopeOf(mb, 'INBOX');
    assert.equal(formatThread(await runThread('REFERENCES', { k: 'all' }, s), false), '* THREAD ((1 2)(3))((4)(5))\r\n');
    assert.equal(formatThread(await runThread('ORDEREDSUBJECT', { k: 'all' }, s), false), '* THREAD (1 (2)(3))(4 5)\r\n');
  } finally {
    await store.close();
  }
});

test('THREAD reply format: single children continue the list, several are parenthesised (the RFC 5256 example)', () => {
  let seq = 0;
  const n = (id: number, ...children: ThreadNode[]): ThreadNode => ({ msg: { seq: ++seq, uid: id, modseq: 1, flags: [], internalDate: 0, size: 0, recent: false }, children });
  const tree = [n(2), n(3, n(6, n(4, n(23)), n(44, n(7, n(96)))))];
  assert.equal(formatThread(tree, true), '* THREAD (2)(3 6 (4 23)(44 7 96))\r\n');
  assert.equal(formatThread([{ msg: null, children: [n(1), n(2)] }], true), '* THREAD ((1)(2))\r\n');
  assert.equal(formatThread([], true), '* THREAD\r\n');
});
