/**
 * config/resolve.ts: a validated config model (seed names and units) → the frozen, unit-named
 * options of config/options.ts. Applies the schema's defaults, converts seconds → ms and
 * KB → bytes, turns a 0 in a `zeroUnlimited` count into UNLIMITED, gives every service its
 * options (a TCP or UDP service without `listeners` gets its embedded default listener), and
 * expands `smtp` in `services` to smtpIncoming + smtpOutgoing + processing, without duplicates.
 * Server-level attributes a row lists in `serverOptions` (pop3ExclusiveLock) are copied into their
 * service's `extra`; the Server's `hostname` (written, else `systemHostname()`: the OS's fully
 * qualified name once the server has learnt it) goes to every service as `hostname`.
 *
 * Exports: `resolve(model)`. Throws nothing for a model that `validate` produced (it trusts
 * the model's types; a hand-built model must be validated first, e.g. write → parse → validate).
 */
import { UNLIMITED } from './options.ts';
import type {
  AllowRuleOptions, DenyRuleOptions, FlowLimits, ResolvedConfig, ServiceName, ServiceOptions,
  SslOptions, TcpListenerOptions, UdpListenerOptions,
} from './options.ts';
import { SERVER_SCHEMA, SERVICE_DEFS, SSL_CONTROL, serviceDefs, STATUS_CONTROL, TCP_ALLOW_RULE } from './schema.ts';
import type { AttrSpec, ModelObject, ModelValue, ObjectSchema, ServiceDef } from './schema.ts';
import { parseEndpoint } from './values.ts';
import { systemHostname } from '../net/hostname.ts';

/** The written value, else the schema default (arrays copied). */
function get(obj: ModelObject | undefined, schema: ObjectSchema, name: string): ModelValue | undefined {
  const v = obj?.[name];
  if (v !== undefined) return v;
  const spec = schema.attributes[name];
  const d = spec !== undefined && 'default' in spec ? spec.default : undefined;
  return Array.isArray(d) ? [...d] : (d as ModelValue | undefined);
}

/** A scalar or set converted by its spec: units, zero = unlimited. */
function convert(spec: AttrSpec, v: ModelValue | undefined): unknown {
  if (v === undefined || spec.type !== 'uint' || typeof v !== 'number') return Array.isArray(v) ? [...v] : v;
  if (spec.zeroUnlimited === true && v === 0) return UNLIMITED;
  if (spec.unit === 'seconds') return v * 1000;
  if (spec.unit === 'kb') return v * 1024;
  return v;
}

function num(obj: ModelObject | undefined, schema: ObjectSchema, name: string): number {
  return convert(schema.attributes[name]!, get(obj, schema, name)) as number;
}
const str = (obj: ModelObject | undefined, schema: ObjectSchema, name: string): string | null =>
  (get(obj, schema, name) as string | undefined) ?? null;
const bool = (obj: ModelObject | undefined, schema: ObjectSchema, name: string): boolean =>
  get(obj, schema, name) === true;
const objects = (obj: ModelObject | undefined, name: string): ModelObject[] => (obj?.[name] as ModelObject[] | undefined) ?? [];

function flow(obj: ModelObject | undefined, schema: ObjectSchema): FlowLimits {
  return {
    maxConnections: num(obj, schema, 'maxConnections'),
    maxIntervalConnections: num(obj, schema, 'maxIntervalConnections'),
    timeIntervalMs: num(obj, schema, 'timeInterval'),
    peerMaxConnections: num(obj, schema, 'peerMaxConnections'),
    peerMaxIntervalConnections: num(obj, schema, 'peerMaxIntervalConnections'),
    peerTimeIntervalMs: num(obj, schema, 'peerTimeInterval'),
  };
}

/** Rules from an object set attribute; IpRule allow rules (UDP) get unlimited flow. */
function denyRules(owner: ModelObject | undefined, ownerSchema: ObjectSchema): DenyRuleOptions[] {
  const spec = ownerSchema.attributes['denyRules'];
  if (spec?.type !== 'objectSet') return [];
  return objects(owner, 'denyRules').map((r) => ({
    ipSet: r['ipSet'] as string,
    enable: bool(r, spec.schema, 'enable'),
    priority: num(r, spec.schema, 'priority'),
  }));
}

function allowRules(owner: ModelObject | undefined, ownerSchema: ObjectSchema): AllowRuleOptions[] {
  const spec = ownerSchema.attributes['allowRules'];
  if (spec?.type !== 'objectSet') return [];
  const hasFlow = spec.schema === TCP_ALLOW_RULE;
  return objects(owner, 'allowRules').map((r) => ({
    ipSet: r['ipSet'] as string,
    enable: bool(r, spec.schema, 'enable'),
    priority: num(r, spec.schema, 'priority'),
    flow: flow(hasFlow ? r : undefined, TCP_ALLOW_RULE),
  }));
}

function ssl(obj: ModelObject | undefined): SslOptions {
  const s = SSL_CONTROL;
  return {
    allowedVersions: get(obj, s, 'allowedVersions') as SslOptions['allowedVersions'],
    certFile: str(obj, s, 'certFile'),
    keyFile: str(obj, s, 'keyFile'),
    caFile: str(obj, s, 'caFile'),
    maxChainDepth: num(obj, s, 'maxChainDepth'),
    requestClientAuth: bool(obj, s, 'requestClientAuth'),
    cipherSuite: str(obj, s, 'cipherSuite'),
  };
}

function listenerModels(def: ServiceDef, block: ModelObject | undefined): ModelObject[] {
  const written = block?.['listeners'] as ModelObject[] | undefined;
  if (written !== undefined) return written;
  return def.defaultListener === null ? [] : [{ address: def.defaultListener }];
}

function tcpListener(l: ModelObject, schema: ObjectSchema): TcpListenerOptions {
  const key = l['address'] as string;
  return {
    key,
    address: parseEndpoint(key),
    enable: bool(l, schema, 'enable'),
    idleTimeoutMs: num(l, schema, 'idleTimeout'),
    flow: flow(l, schema),
    sslEnable: bool(l, schema, 'sslEnable'),
    ssl: ssl(l['sslControl'] as ModelObject | undefined),
    allowRules: allowRules(l, schema),
    denyRules: denyRules(l, schema),
  };
}

function udpListener(l: ModelObject, schema: ObjectSchema): UdpListenerOptions {
  const key = l['address'] as string;
  return {
    key,
    address: parseEndpoint(key),
    enable: bool(l, schema, 'enable'),
    allowRules: allowRules(l, schema),
    denyRules: denyRules(l, schema),
  };
}

function service(def: ServiceDef, block: ModelObject | undefined): Omit<ServiceOptions, 'hostname'> {
  const s = def.schema;
  const listenerSpec = s.attributes['listeners'];
  const listenerSchema = listenerSpec?.type === 'objectSet' ? listenerSpec.schema : null;
  const list = listenerSchema === null ? [] : listenerModels(def, block);
  // Services without error control (UDP, none) report the TCP defaults; nothing enforces them.
  const errSchema = def.transport === 'tcp' ? s : SERVICE_DEFS.smtpIncoming.schema;
  const errBlock = def.transport === 'tcp' ? block : undefined;
  const extra: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(def.extra)) {
    const v = convert(spec, get(block, s, name));
    if (v !== undefined) extra[('as' in spec ? spec.as : undefined) ?? name] = v;
  }
  return {
    name: def.name,
    transport: def.transport,
    listeners: def.transport === 'tcp' ? list.map((l) => tcpListener(l, listenerSchema!)) : [],
    udpListeners: def.transport === 'udp' ? list.map((l) => udpListener(l, listenerSchema!)) : [],
    allowRules: allowRules(block, s),
    denyRules: denyRules(block, s),
    flow: flow(def.transport === 'tcp' ? block : undefined, TCP_ALLOW_RULE),
    maxErrors: num(errBlock, errSchema, 'maxErrors'),
    maxAuthErrors: num(errBlock, errSchema, 'maxAuthErrors'),
    minConnThreads: num(block, s, 'minConnThreads'),
    maxConnThreads: num(block, s, 'maxConnThreads'),
    threadSessions: num(block, s, 'threadSessions'),
    threadIdleTimeoutMs: num(block, s, 'threadIdleTimeout'),
    connThreadHeapBytes: num(block, s, 'connThreadHeapSize'),
    minPoolThreads: num(block, s, 'minPoolThreads'),
    maxPoolThreads: num(block, s, 'maxPoolThreads'),
    extra,
  };
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

function expandServices(written: string[]): ServiceName[] {
  const out: ServiceName[] = [];
  for (const name of written) {
    const names = name === 'smtp' ? (['smtpIncoming', 'smtpOutgoing', 'processing'] as const) : [name as ServiceName];
    for (const n of names) if (!out.includes(n)) out.push(n);
  }
  return out;
}

export function resolve(model: ModelObject): ResolvedConfig {
  const s = SERVER_SCHEMA;
  const serviceOptions = {} as Record<ServiceName, ServiceOptions>;
  const hostname = str(model, s, 'hostname') ?? systemHostname();
  for (const def of serviceDefs()) {
    const name = def.name;
    serviceOptions[name] = { ...service(def, model[name] as ModelObject | undefined), hostname };
    for (const attr of def.row.serverOptions ?? []) {
      (serviceOptions[name].extra as Record<string, unknown>)[attr] = convert(s.attributes[attr]!, get(model, s, attr));
    }
  }
  return deepFreeze({
    services: expandServices(get(model, s, 'services') as string[]),
    primaryDomain: str(model, s, 'primaryDomain')!,
    hostname,
    statusListener: parseEndpoint(str(model, s, 'statusListener')!),
    statusLimits: {
      flow: flow(model['statusControl'] as ModelObject | undefined, STATUS_CONTROL),
      idleTimeoutMs: num(model['statusControl'] as ModelObject | undefined, STATUS_CONTROL, 'idleTimeout'),
      requestTimeoutMs: num(model['statusControl'] as ModelObject | undefined, STATUS_CONTROL, 'requestTimeout'),
    },
    logLevel: get(model, s, 'logLevel') as ResolvedConfig['logLevel'],
    dataDir: str(model, s, 'dataDir'),
    enableFaultInjection: bool(model, s, 'enableFaultInjection'),
    shutdownTimeoutMs: num(model, s, 'shutdownTimeout'),
    allowRules: allowRules(model, s),
    denyRules: denyRules(model, s),
    serviceOptions,
  });
}
