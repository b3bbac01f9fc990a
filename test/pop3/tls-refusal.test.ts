/**
 * test/pop3/tls-refusal.test.ts: a refusal on an implicit-TLS listener writes no plaintext into
 * the client's handshake (issue 11 item 13): a deny rule and a peer window on the POP3S
 * listener; Python's ssl client sees EOF or a reset (never a record it cannot parse), a raw
 * socket receives no byte; an admitted client still gets its TLS greeting, and the plain
 * listener still says why it refuses.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { python, startPop3, type Pop3Env } from './helpers.ts';

let env: Pop3Env;
before(async () => {
  env = await startPop3({
    tlsListener: 'denyRules = ( { ipSet = 127.0.0.60 } ) peerMaxConnections = 1',
    listener: 'denyRules = ( { ipSet = 127.0.0.60 } )',
  });
});
after(async () => env.stop());

const PY = `
import socket, ssl, os, json, poplib
TLS = int(os.environ['TLS']); PLAIN = int(os.environ['PLAIN'])
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
def tls_try(src):
    s = socket.create_connection(('127.0.0.2', TLS), timeout=10, source_address=(src, 0))
    try:
        t = ctx.wrap_socket(s, server_hostname='localhost')
        return 'handshake: ' + t.recv(100).decode('latin1')
    except (ssl.SSLEOFError, ConnectionResetError, ssl.SSLZeroReturnError) as e:
        return 'eof'
    except ssl.SSLError as e:
        return 'garbage: ' + str(e)
    except OSError as e:
        return 'eof' if 'EOF' in str(e) else 'other: ' + str(e)
def raw(host, port, src):
    s = socket.create_connection((host, port), timeout=10, source_address=(src, 0))
    got = b''
    try:
        while True:
            b = s.recv(4096)
            if not b: break
            got += b
    except ConnectionResetError:
        pass
    s.close()
    return got.decode('latin1')
out = {}
out['denied_tls'] = tls_try('127.0.0.60')
out['denied_raw'] = raw('127.0.0.2', TLS, '127.0.0.60')
out['denied_plain'] = raw('127.0.0.1', PLAIN, '127.0.0.60')
held = poplib.POP3_SSL('127.0.0.2', TLS, context=ctx, timeout=10)
out['admitted'] = held.getwelcome().decode()
out['window_tls'] = tls_try('127.0.0.1')
out['window_raw'] = raw('127.0.0.2', TLS, '127.0.0.1')
held.quit()
print(json.dumps(out))`;

test('refusals on an implicit-TLS listener send no plaintext: the TLS client sees EOF', async () => {
  const r = JSON.parse(await python(PY, { TLS: String(env.tlsPort), PLAIN: String(env.port) }));
  assert.equal(r.denied_tls, 'eof');
  assert.equal(r.denied_raw, '');
  assert.match(r.denied_plain, /^-ERR /); // the plain listener still says why
  assert.match(r.admitted, /^\+OK /);
  assert.equal(r.window_tls, 'eof');
  assert.equal(r.window_raw, '');
  const svc = env.server.status().services.find((s) => s.name === 'pop3')!;
  const l = svc.listeners[1]!;
  assert.ok((l.refused.deny_rule ?? 0) >= 2 && (l.refused.peer_window ?? 0) >= 2, JSON.stringify(l.refused));
});
