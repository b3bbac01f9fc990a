/**
 * .dependency-cruiser.cjs: Postern's layers, checked by `npm run lint:deps` (part of `npm test`).
 *
 * An import goes down, never up (README, "Architecture"; DESIGN.md, "Layers"):
 *
 *   bin/, actors/, workers/     the top: entry points, thread entries, service hosts, the root
 *                               supervisor (actors/server.ts). Nothing under src/ imports them.
 *   src/protocols/<name>/,      the services' modules: one folder per protocol, and the queue's
 *   src/processing/             processing service. None imports another.
 *   src/auth/                   SASL mechanisms, the login pipeline, the login throttle
 *   src/session/, src/service/, the one dispatcher and its framers, the protocol-module contract
 *   src/control/, src/status/,  and the service table; the control socket, the status endpoint,
 *   src/cli/, src/http/         the `postern ctl` client, the HTTP service host
 *   src/store/, src/userdb/     directory, mailboxes, queue, bodies; user databases and user
 *                               maps (LDAP): each imports only the ground
 *   src/actor/, src/config/,    the ground: imports only the ground (src/admin/ is the admin
 *   src/net/, src/admin/,       command registry: declarations any layer may read, the store's
 *   src/errors.ts, src/log.ts,  handlers included; src/process-tuning.ts: the server process's
 *   src/process-tuning.ts       memory settings)
 *
 * Type-only imports count too (tsPreCompilationDeps), and no module is part of an import cycle.
 * A new folder under src/ belongs to no layer until it is named here (`src-in-a-layer`).
 * test/fixtures/layers/ holds a tree that breaks each rule (test/layers/check.test.ts).
 */
const GROUND = '^src/(actor/|config/|net/|admin/|errors\\.ts$|log\\.ts$|process-tuning\\.ts$)';
const STORE = '^src/store/';
const USERDB = '^src/userdb/';
const MIDDLE = '^src/(session|service|control|status|cli|http)/';
const AUTH = '^src/auth/';
const SERVICES = '^src/(protocols/[^/]+|processing)/';
const KNOWN = [GROUND, STORE, USERDB, MIDDLE, AUTH, SERVICES];

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'A module is part of an import cycle (type-only imports included).',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'src-does-not-import-the-top',
      comment: 'src/ never imports actors/, workers/ or bin/: they are the top.',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^(actors|workers|bin)/' },
    },
    {
      name: 'src-in-a-layer',
      comment: 'Every module under src/ belongs to a layer of .dependency-cruiser.cjs: add a new folder there.',
      severity: 'error',
      from: { path: '^src/', pathNot: KNOWN },
      to: {},
    },
    {
      name: 'ground-imports-only-the-ground',
      comment: 'src/actor, src/config, src/net, src/admin, errors.ts, log.ts and process-tuning.ts import nothing above them.',
      severity: 'error',
      from: { path: GROUND },
      to: { path: '^src/', pathNot: GROUND },
    },
    {
      name: 'store-imports-only-the-ground',
      comment: 'src/store/ never imports a protocol, a session, a service or auth: only the ground.',
      severity: 'error',
      from: { path: STORE },
      to: { path: '^src/', pathNot: [GROUND, STORE] },
    },
    {
      name: 'userdb-imports-only-the-ground',
      comment: 'src/userdb/ (user databases and maps) imports only the ground, like the store.',
      severity: 'error',
      from: { path: USERDB },
      to: { path: '^src/', pathNot: [GROUND, USERDB] },
    },
    {
      name: 'middle-imports-no-service-or-auth',
      comment: 'src/session, src/service, src/control, src/status, src/cli, src/http import no protocol, no processing and not src/auth.',
      severity: 'error',
      from: { path: MIDDLE },
      to: { path: [AUTH, SERVICES] },
    },
    {
      name: 'auth-imports-no-service',
      comment: 'src/auth/ imports no protocol and not processing.',
      severity: 'error',
      from: { path: AUTH },
      to: { path: SERVICES },
    },
    {
      name: 'services-are-independent',
      comment: 'A protocol (or processing) imports no other protocol.',
      severity: 'error',
      from: { path: SERVICES },
      to: { path: SERVICES, pathNot: '^src/$1/' },
    },
  ],
  options: {
    tsPreCompilationDeps: true,
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(node_modules|test|bench)/' },
  },
};
