/**
 * The listener layer end to end over real sockets, with the line-protocol fixture in service
 * slots: every flow limit trips exactly at its configured value (listener, per peer, interval,
 * service, rule over its whole IP set), rules decide by level and priority, IPv6 and
 * IPv4-mapped peers match the right rules, and refusals are counted by reason on /status and
 * /metrics. Admission runs on a manual clock: interval windows slide only when a test moves it,
 * so no count depends on how fast the machine opens connections.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type Server } from '../../actors/server.ts';
import { connectLines, tmpDir, waitFor, type LineClient } from '../helpers.ts';

const FIXTURE = new URL('../fixtures/line-protocol.ts', import.meta.url).href;

const CONFIG = `
Server {
    services = (pop3 imap cli)
    statusListener = 127.0.0.1:0
    logLevel = error
    pop3 = {
        listeners = (
            { address = 127.0.1.1:0 maxConnections = 5 }
            { address = 127.0.1.2:0 peerMaxConnections = 3 }
            { address = 127.0.1.3:0 maxIntervalConnections = 4 timeInterval = 2 }
            { address = 127.0.1.4:0 peerMaxIntervalConnections = 2 peerTimeInterval = 2 }
            {
                address = 127.0.1.6:0
                allowRules = ( { ipSet = 127.0.0.10 priority = 50 } )
            }
        )
        denyRules = (
            { ipSet = 127.0.0.10 priority = 5 }
            { ipSet = 127.0.0.20-127.0.0.21 priority = 7 }
            { ipSet = 127.0.0.22 priority = 7 enable = no }
        )
        allowRules = (
            { ipSet = 127.0.0.20/31 priority = 7 }
            { ipSet = 127.0.0.30-127.0.0.31 priority = 10 maxConnections = 2 }
            { ipSet = 127.0.0.40/255.255.255.254 priority = 10 peerMaxConnections = 1 maxIntervalConnections = 3 timeInterval = 60 }
        )
    }
    imap = {
        listeners = ( { address = 127.0.2.1:0 } { address = 127.0.2.2:0 } )
        maxConnections = 3
    }
    cli = {
        listeners = (
            { address = [::1]:0 denyRules = ( { ipSet = ::1-::2 } ) }
            { address = [::ffff:127.0.3.1]:0 }
        )
        denyRules = ( { ipSet = 127.0.0.50 } { ipSet = ::ffff:127.0.0.51/128 } { ipSet = 2001:db8::/32 } )
    }
}`;

let server: Server;
const open: LineClient[] = [];
let clockMs = 1_000_000; // the admission clock (ms): it stands still unless a test moves it

before(async () => {
  server = await startServer({ configText: CONFIG, dataDir: tmpDir(), statusPort: 0, controlSocket: false, protocolOverrides: { pop3: FIXTURE, imap: FIXTURE, cli: FIXTURE }, loadIntervalMs: 100, admissionClock: () => clockMs });
});
after(async () => {
  for (const c of open) c.close();
  await server.stop();
});

const port = (svc: string, i = 0): number => server.port(svc, i);

async function admitted(svc: string, i: number, host: string, local?: string): Promise<LineClient> {
  const c = await connectLines(port(svc, i), host, local);
  open.push(c);
  assert.equal(await c.read(), '+OK fixture ready');
  return c;
}

async function refused(svc: string, i: number, host: string, reason: string, local?: string): Promise<void> {
  const c = await connectLines(port(svc, i), host, local);
  assert.equal(await c.read(), `-ERR connection refused (${reason})`);
  await c.closed;
}

function listenerStatus(svc: string, key: string) {
  const l = server.status().services.find((s) => s.name === svc)!.listeners.find((x) => x.key === key);
  assert.ok(l, `listener ${key}`);
  return l;
}

async function closeAll(cs: LineClient[]): Promise<void> {
  for (const c of cs) {
    c.close();
    await c.closed;
  }
}

test('listener maxConnections: the 6th simultaneous connection is refused, a released slot admits again', async () => {
  const cs = [];
  for (let i = 0; i < 5; i++) cs.push(await admitted('pop3', 0, '127.0.1.1'));
  await refused('pop3', 0, '127.0.1.1', 'listener_window');
  assert.equal(listenerStatus('pop3', '127.0.1.1:0').open, 5);
  cs[0]!.close();
  await waitFor(() => listenerStatus('pop3', '127.0.1.1:0').open === 4, 5000, 'release');
  cs.push(await admitted('pop3', 0, '127.0.1.1'));
  await refused('pop3', 0, '127.0.1.1', 'listener_window');
  assert.equal(listenerStatus('pop3', '127.0.1.1:0').refused.listener_window, 2);
  await closeAll(cs);
  await waitFor(() => listenerStatus('pop3', '127.0.1.1:0').open === 0, 5000, 'all released');
});

test('peerMaxConnections counts each remote IP separately (127.0.0.2, 127.0.0.3)', async () => {
  const cs = [];
  for (let i = 0; i < 3; i++) cs.push(await admitted('pop3', 1, '127.0.1.2', '127.0.0.2'));
  await refused('pop3', 1, '127.0.1.2', 'peer_window', '127.0.0.2');
  for (let i = 0; i < 3; i++) cs.push(await admitted('pop3', 1, '127.0.1.2', '127.0.0.3'));
  await refused('pop3', 1, '127.0.1.2', 'peer_window', '127.0.0.3');
  cs[0]!.close();
  await waitFor(() => listenerStatus('pop3', '127.0.1.2:0').open === 5, 5000, 'release');
  cs.push(await admitted('pop3', 1, '127.0.1.2', '127.0.0.2'));
  await closeAll(cs);
});

test('maxIntervalConnections per timeInterval: the 5th new connection in 2 s is refused, and admitted once the window slides', async () => {
  for (let i = 0; i < 4; i++) {
    const c = await admitted('pop3', 2, '127.0.1.3');
    c.close();
    await c.closed;
  }
  await refused('pop3', 2, '127.0.1.3', 'listener_window');
  clockMs += 1999;
  await refused('pop3', 2, '127.0.1.3', 'listener_window'); // the first admission is 1999 ms old
  clockMs += 1;
  const c = await admitted('pop3', 2, '127.0.1.3');
  await closeAll([c]);
});

test('peerMaxIntervalConnections per peerTimeInterval, per remote IP', async () => {
  for (let i = 0; i < 2; i++) await closeAll([await admitted('pop3', 3, '127.0.1.4', '127.0.0.4')]);
  await refused('pop3', 3, '127.0.1.4', 'peer_window', '127.0.0.4');
  await closeAll([await admitted('pop3', 3, '127.0.1.4', '127.0.0.5')]);
  clockMs += 2000; // the window slides for 127.0.0.4
  await closeAll([await admitted('pop3', 3, '127.0.1.4', '127.0.0.4')]);
});

test('rules: deny closes; on a priority tie deny wins; a disabled rule is ignored; listener rules override service rules', async () => {
  await refused('pop3', 0, '127.0.1.1', 'deny_rule', '127.0.0.10');
  await closeAll([await admitted('pop3', 4, '127.0.1.6', '127.0.0.10')]); // listener-level allow
  await refused('pop3', 0, '127.0.1.1', 'deny_rule', '127.0.0.20'); // tie at priority 7
  await refused('pop3', 0, '127.0.1.1', 'deny_rule', '127.0.0.21'); // deny only
  await closeAll([await admitted('pop3', 0, '127.0.1.1', '127.0.0.22')]); // disabled deny rule
  const rule = server.status().services.find((s) => s.name === 'pop3')!.rules.find((r) => r.ipSet === '127.0.0.10' && r.kind === 'deny');
  assert.equal(rule?.refused.deny_rule, 1);
});

test('allow-rule limits: maxConnections over the whole IP set, peerMaxConnections per IP within it', async () => {
  const a = await admitted('pop3', 0, '127.0.1.1', '127.0.0.30');
  const b = await admitted('pop3', 0, '127.0.1.1', '127.0.0.31');
  await refused('pop3', 0, '127.0.1.1', 'rule_window', '127.0.0.30');
  await refused('pop3', 0, '127.0.1.1', 'rule_window', '127.0.0.31');
  await closeAll([a]);
  await waitFor(() => listenerStatus('pop3', '127.0.1.1:0').open === 1, 5000, 'release');
  const c = await admitted('pop3', 0, '127.0.1.1', '127.0.0.30');
  await closeAll([b, c]);

  const d = await admitted('pop3', 0, '127.0.1.1', '127.0.0.40');
  await refused('pop3', 0, '127.0.1.1', 'peer_window', '127.0.0.40');
  const e = await admitted('pop3', 0, '127.0.1.1', '127.0.0.41');
  await closeAll([d, e]);
  await waitFor(() => listenerStatus('pop3', '127.0.1.1:0').open === 0, 5000, 'release');
  // the rule's interval window: 3 new connections per 60 s over the whole set
  await closeAll([await admitted('pop3', 0, '127.0.1.1', '127.0.0.41')]);
  await refused('pop3', 0, '127.0.1.1', 'rule_window', '127.0.0.41');
  await refused('pop3', 0, '127.0.1.1', 'rule_window', '127.0.0.40');
});

test('service-level maxConnections counts across all the service listeners', async () => {
  const cs = [await admitted('imap', 0, '127.0.2.1'), await admitted('imap', 1, '127.0.2.2'), await admitted('imap', 0, '127.0.2.1')];
  await refused('imap', 1, '127.0.2.2', 'service_window');
  await refused('imap', 0, '127.0.2.1', 'service_window');
  await closeAll(cs);
});

test('IPv6 peers match IPv6 rules; IPv4-mapped peers match IPv4 rules', async () => {
  await refused('cli', 0, '::1', 'deny_rule');
  // a listener on an IPv4-mapped address sees peers as ::ffff:a.b.c.d
  await refused('cli', 1, '::ffff:127.0.3.1', 'deny_rule', '::ffff:127.0.0.50');
  await refused('cli', 1, '::ffff:127.0.3.1', 'deny_rule', '::ffff:127.0.0.51');
  const ok = await admitted('cli', 1, '::ffff:127.0.3.1', '::ffff:127.0.0.52');
  assert.equal(await ok.cmd('ECHO v4 mapped'), '+OK v4 mapped');
  await closeAll([ok]);
});

test('refusals and open connections are on /status and /metrics', async () => {
  // this test's own traffic: 5 open on 127.0.1.1 (its maxConnections) and one refused
  const was = listenerStatus('pop3', '127.0.1.1:0');
  const [accepted0, refused0] = [was.accepted, was.refused.listener_window ?? 0];
  const cs = [];
  for (let i = 0; i < 5; i++) cs.push(await admitted('pop3', 0, '127.0.1.1'));
  await refused('pop3', 0, '127.0.1.1', 'listener_window');
  const doc = (await (await fetch(`http://127.0.0.1:${server.statusPort}/status`)).json()) as any;
  const pop3 = doc.services.find((s: { name: string }) => s.name === 'pop3');
  const l = pop3.listeners.find((x: { key: string }) => x.key === '127.0.1.1:0');
  assert.equal(l.open, 5);
  assert.equal(l.refused.listener_window, refused0 + 1);
  assert.equal(l.accepted, accepted0 + 5);
  const text = await (await fetch(`http://127.0.0.1:${server.statusPort}/metrics`)).text();
  const sample = (name: string, labels: string): number => {
    const m = new RegExp(`^${name}\\{([^}]*)\\} (\\d+)$`, 'gm');
    for (const [, ls, v] of text.matchAll(m)) if (labels.split(',').every((x) => ls!.includes(x))) return Number(v);
    return NaN;
  };
  assert.equal(sample('postern_listener_refused_total', 'service="pop3",listener="127.0.1.1:0",reason="listener_window"'), refused0 + 1);
  assert.equal(sample('postern_listener_open_connections', 'service="pop3",listener="127.0.1.1:0"'), 5);
  assert.equal(sample('postern_listener_open_connections', 'service="imap",listener="127.0.2.1:0"'), 0);
  await closeAll(cs);
});
