/**
 * test/config/fixtures.ts: shared config test data: the seed-style example, a seeded PRNG,
 * a generator of random valid models from the schema, and an error-catching helper.
 * Exports: `EXAMPLE`, `prng`, `genModel`, `catchError`. Throws nothing itself.
 */
import { PosternError } from '../../src/errors.ts';
import { SERVER_SCHEMA } from '../../src/config/schema.ts';
import type { AttrSpec, ModelObject, ModelScalar, ModelValue, ObjectSchema, ScalarSpec } from '../../src/config/schema.ts';

export const EXAMPLE = `Server {
    services = (pop3 smtpIncoming processing)
    primaryDomain = "example.org"
    statusListener = 127.0.0.1:9100
    pop3 = {
        listeners = (
            {
                address = 127.0.0.1:1110
                enable = yes
                maxConnections = 1000          # simultaneous, this listener
                maxIntervalConnections = 600   # new connections per timeInterval
                timeInterval = 60              # seconds
                peerMaxConnections = 20        # simultaneous, per remote IP
                peerMaxIntervalConnections = 60
                peerTimeInterval = 60
                idleTimeout = 600
            }
        )
        allowRules = ( { ipSet = 127.0.0.0/8 priority = 10 peerMaxConnections = 50 } )
        denyRules = ( { ipSet = 10.0.0.1-10.0.0.20 priority = 5 } )
        maxErrors = 10
        maxAuthErrors = 3
        minConnThreads = 1
        maxConnThreads = 4
    }
}
`;

import { prng } from '../helpers.ts';
export { prng }; // the suite's one seeded PRNG lives in test/helpers.ts

export function catchError(fn: () => unknown): PosternError {
  try {
    fn();
  } catch (e) {
    if (e instanceof PosternError) return e;
    throw e;
  }
  throw new Error('expected a PosternError, got none');
}

interface Gen {
  rnd: () => number;
  port: number; // next unique port, so listener addresses never collide
}

const int = (g: Gen, lo: number, hi: number): number => lo + Math.floor(g.rnd() * (hi - lo + 1));
const pick = <T>(g: Gen, xs: readonly T[]): T => xs[int(g, 0, xs.length - 1)]!;
const STRING_PARTS = ['a', 'Z', '9', ' ', '#', '"', '\\', '{', '}', '(', ')', '=', '/*', '*/', '.', ':', 'é', '\t', '-'];

function ipv4(g: Gen): string {
  return [int(g, 0, 255), int(g, 0, 255), int(g, 0, 255), int(g, 0, 255)].join('.');
}
function ipv6(g: Gen): string {
  return pick(g, ['::1', 'fe80::1', '2001:db8::', `2001:db8::${int(g, 1, 0xffff).toString(16)}`, '::ffff:10.0.0.1']);
}

function genScalar(g: Gen, spec: ScalarSpec): ModelScalar {
  switch (spec.type) {
    case 'uint': {
      const min = spec.min ?? 0;
      if (spec.zeroUnlimited === true && g.rnd() < 0.2) return 0;
      return int(g, min, Math.min(min + 5000, spec.max ?? Number.MAX_SAFE_INTEGER));
    }
    case 'string': case 'csString': {
      let s = '';
      const n = int(g, 0, 6);
      for (let i = 0; i < n; i++) s += pick(g, STRING_PARTS);
      return s;
    }
    case 'hostname': return pick(g, ['mx.example.test', 'localhost', 'host-1.example.org']);
    case 'ip': return g.rnd() < 0.5 ? ipv4(g) : ipv6(g);
    case 'ipSet': return pick(g, [
      ipv4(g), `${ipv4(g)}/${int(g, 0, 32)}`, '10.0.0.0/255.0.0.0', '10.0.0.1-10.0.0.20', ipv6(g),
      '2001:db8::/32', 'fe80::1-fe80::ff',
    ]);
    case 'ipPort': {
      g.port++;
      return g.rnd() < 0.7 ? `127.0.0.1:${g.port}` : `[::1]:${g.port}`;
    }
    case 'ipOptPort': return pick(g, [ipv4(g), ipv6(g), `127.0.0.1:${int(g, 0, 65535)}`, `[::1]:${int(g, 0, 65535)}`]);
    case 'bool': return g.rnd() < 0.5;
    case 'choice': return pick(g, spec.choices ?? []);
  }
}

function genValue(g: Gen, spec: AttrSpec): ModelValue {
  switch (spec.type) {
    case 'set': return Array.from({ length: int(g, 0, 3) }, () => genScalar(g, spec.of));
    case 'object': return genObject(g, spec.schema);
    case 'objectSet': return Array.from({ length: int(g, 0, 2) }, () => genObject(g, spec.schema));
    default: return genScalar(g, spec);
  }
}

function genObject(g: Gen, schema: ObjectSchema): ModelObject {
  const out: ModelObject = {};
  const paired = new Set((schema.checks ?? []).flatMap((c) => [c.attr, c.atLeast]));
  for (const [name, spec] of Object.entries(schema.attributes)) {
    if (paired.has(name)) continue;
    if (spec.required === true || g.rnd() < 0.35) out[name] = genValue(g, spec);
  }
  for (const c of schema.checks ?? []) {
    if (g.rnd() < 0.5) continue;
    const lowSpec = schema.attributes[c.atLeast] as ScalarSpec;
    const low = int(g, lowSpec.min ?? 0, 8);
    out[c.atLeast] = low;
    out[c.attr] = Math.max(low, 1) + int(g, 0, 4);
  }
  return out;
}

/** A random model that validates: every attribute kind of the schema, unique listener ports. */
export function genModel(seed: number): ModelObject {
  return fixUserdbNames(genObject({ rnd: prng(seed), port: 30000 }, SERVER_SCHEMA));
}

/** (issue 16) Random names cannot refer to each other: give connectors and maps names and URLs
 * that validate, and point every reference at them (or at none). */
function fixUserdbNames(m: ModelObject): ModelObject {
  const connectors = ((m['userdb'] as ModelObject | undefined)?.['ldapConnectors'] ?? []) as ModelObject[];
  connectors.forEach((c, i) => { c['name'] = `c${i}`; c['urls'] = [`ldap://h${i}.example:389`]; });
  const maps = (m['userMaps'] ?? []) as ModelObject[];
  maps.forEach((x, i) => {
    x['name'] = `m${i}`;
    if (x['type'] !== 'file' && connectors.length > 0) { x['ldapConnector'] = 'c0'; delete x['path']; } else { x['type'] = 'file'; x['path'] = `/maps/m${i}`; delete x['ldapConnector']; }
  });
  const walk = (o: ModelObject): void => {
    for (const [k, v] of Object.entries(o)) {
      if (k === 'userMap') o[k] = maps.length > 0 ? 'm0' : 'none';
      else if (k === 'userdbConnectorName') o[k] = 'c0';
      else if (Array.isArray(v)) v.forEach((x) => { if (typeof x === 'object' && x !== null) walk(x as ModelObject); });
      else if (typeof v === 'object' && v !== null) walk(v as ModelObject);
    }
    if (o['userdbConnectorType'] === 'ldap' && connectors.length === 0) o['userdbConnectorType'] = 'local';
    if (o['userdbConnectorType'] === 'ldap') o['userdbConnectorName'] = 'c0';
  };
  for (const [k, v] of Object.entries(m)) if (k !== 'userdb' && k !== 'userMaps' && typeof v === 'object' && v !== null && !Array.isArray(v)) walk(v as ModelObject);
  return m;
}
