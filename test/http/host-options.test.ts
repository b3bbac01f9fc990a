/**
 * test/http/host-options.test.ts: the seed's HTTP options as the config resolves them
 * (config/schema.ts HTTP_OPTIONS and WEBMAIL_OPTIONS → config/options.ts HttpOptions and
 * WebmailOptions): defaults and units, the UrlRedirect default (the first TLS listener, linked),
 * virtual hosts and hostNameResolver lower-cased; and the secure-login URL the host computes
 * from them (`secureUrlFor`).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../src/config/load.ts';
import { optionsOf } from '../../src/config/options.ts';
import { httpOptionsOf, secureUrlFor } from '../../src/http/host.ts';
import { isPosternError } from '../../src/errors.ts';

const load = (text: string) => loadConfig(`Server { ${text} }`, 't').resolved;

test('defaults, in the seed units: KB → bytes, seconds → ms; no TLS listener, no redirect', () => {
  const r = load('');
  const w = optionsOf(r.serviceOptions.webmail, 'webmail');
  const expected = {
    kind: 'webmail',
    allowKeepAlive: true,
    httpHeadersMaxSize: 16 * 1024,
    httpBodyMaxSize: 1024 * 1024,
    uploadMaxSize: 25600 * 1024,
    allowLargeIncomingData: false,
    maxPipelinedRequests: 16,
    sessionIdleTimeoutMs: 1800_000,
    sessionActivityTimeoutMs: 43200_000,
    path: '',
    virtualHosts: [],
    urlRedirect: null,
    showDomainList: false,
    hostNameResolver: [],
  };
  // the HTTP options and WebMail's login helpers (WebMail's other options are tested with it)
  const got = Object.fromEntries(Object.keys(expected).map((k) => [k, w[k as keyof typeof w]]));
  assert.deepEqual({ ...got, virtualHosts: [...w.virtualHosts], hostNameResolver: [...w.hostNameResolver] }, expected);
  assert.equal(httpOptionsOf(r.serviceOptions.webmail), w, 'the resolved object itself');
  assert.throws(() => httpOptionsOf(r.serviceOptions.pop3), (e) => isPosternError(e, 'INTERNAL'));
});

test('every option written is resolved; UrlRedirect written wins, else the first TLS listener is linked', () => {
  const r = load(`webmail = {
    listeners = ( { address = 127.0.0.1:8080 } { address = 127.0.0.1:8443 sslEnable = yes } )
    allowKeepAlive = no httpHeadersMaxSize = 8 httpBodyMaxSize = 64 uploadMaxSize = 512 allowLargeIncomingData = yes maxPipelinedRequests = 4
    sessionIdleTimeout = 60 sessionActivityTimeout = 600 path = "/srv/skins"
    virtualHosts = ( { host = Mail.Example.ORG template = blue } { host = "*.example.net" template = green } )
    showDomainList = yes
    hostNameResolver = ( { host = WEBMAIL.example.org domain = Example.ORG } )
  }`);
  const w = optionsOf(r.serviceOptions.webmail, 'webmail');
  assert.deepEqual([w.allowKeepAlive, w.httpHeadersMaxSize, w.httpBodyMaxSize, w.uploadMaxSize, w.allowLargeIncomingData, w.maxPipelinedRequests], [false, 8192, 65536, 524288, true, 4]);
  assert.deepEqual([w.sessionIdleTimeoutMs, w.sessionActivityTimeoutMs, w.path], [60_000, 600_000, '/srv/skins']);
  assert.deepEqual(w.virtualHosts, [{ host: 'mail.example.org', template: 'blue' }, { host: '*.example.net', template: 'green' }]);
  assert.equal(w.showDomainList, true);
  assert.deepEqual(w.hostNameResolver, [{ host: 'webmail.example.org', domain: 'example.org' }]);
  assert.deepEqual(w.urlRedirect, { address: '127.0.0.1:8443', host: '', port: 0, auto: false }, 'the TLS listener, linked');
  const given = optionsOf(load(`webmail = { UrlRedirect = { address = 10.0.0.1:443 host = mail.example.org port = 8443 auto = yes } }`).serviceOptions.webmail, 'webmail');
  assert.deepEqual(given.urlRedirect, { address: '10.0.0.1:443', host: 'mail.example.org', port: 8443, auto: true });
});

test('secureUrlFor: none over TLS or without a redirect; the redirect host and port, else the request Host name and the listener port', () => {
  const base = optionsOf(load('').serviceOptions.webmail, 'webmail');
  const at = (urlRedirect: typeof base.urlRedirect) => ({ ...base, urlRedirect });
  assert.equal(secureUrlFor(base, false, 'mail.example.org'), null);
  const linked = at({ address: '127.0.0.1:8443', host: '', port: 0, auto: false });
  assert.equal(secureUrlFor(linked, true, 'mail.example.org'), null);
  assert.equal(secureUrlFor(linked, false, 'Mail.Example.org:8080'), 'https://mail.example.org:8443/');
  assert.equal(secureUrlFor(linked, false, '[::1]:8080'), 'https://[::1]:8443/');
  assert.equal(secureUrlFor(linked, false, 'bad host<>'), 'https://127.0.0.1:8443/', 'an odd Host is never echoed');
  assert.equal(secureUrlFor(linked, false, undefined), 'https://127.0.0.1:8443/');
  assert.equal(secureUrlFor(at({ address: '10.0.0.1:443', host: 'secure.example.org', port: 0, auto: true }), false, 'x.example.org'), 'https://secure.example.org/');
  assert.equal(secureUrlFor(at({ address: '10.0.0.1:443', host: '', port: 9443, auto: false }), false, 'x.example.org'), 'https://x.example.org:9443/');
});
