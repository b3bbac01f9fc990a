/**
 * bin/main.ts: the `postern` command.
 *
 *   postern start [--config FILE] [--data-dir DIR]     run the server (no file given:
 *                                                      <dataDir>/postern.conf if SAVE CONFIG
 *                                                      wrote one, else the embedded default)
 *   postern ctl [--data-dir DIR] [--json] VERB …       talk to a running server
 *   postern config check|print [--config FILE]         validate, or print the normalised config
 *   postern cluster demo [--dir DIR]                   a front end and two back ends with slapd
 *                                                      on 127.0.0.2-4 (bin/cluster-demo.ts)
 *
 * Exits non-zero on failure, with one line per problem (a config with several problems: each
 * once). `config check` also loads the listeners' certificate and key files (net/tls.ts).
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { startServer } from '../actors/server.ts';
import { runCtl } from '../src/cli/ctl.ts';
import { loadConfigFile, loadDefault } from '../src/config/load.ts';
import { writeConfig } from '../src/config/write.ts';
import { errorToData } from '../src/errors.ts';
import { checkTlsFiles } from '../src/net/tls.ts';

const USAGE = `usage: postern start [--config FILE] [--data-dir DIR]
       postern ctl [--data-dir DIR] [--json] COMMAND      (postern ctl --help lists the commands)
       postern config check|print [--config FILE]
       postern cluster demo [--dir DIR]`;

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === 'ctl') return runCtl(rest);
  if (cmd === 'start') {
    const { values } = parseArgs({ args: rest, options: { config: { type: 'string' }, 'data-dir': { type: 'string' } }, strict: true });
    // no --config: the file SAVE CONFIG wrote in the data directory, else the embedded default
    const saved = resolve(values['data-dir'] ?? process.env.POSTERN_DATA_DIR ?? 'data', 'postern.conf');
    const configFile = values.config ?? process.env.POSTERN_CONFIG ?? (existsSync(saved) ? saved : undefined);
    const server = await startServer({ configFile, dataDir: values['data-dir'], signals: true });
    await server.stopped;
    return 0;
  }
  if (cmd === 'cluster') return (await import('./cluster-demo.ts')).runClusterDemo(rest);
  if (cmd === 'config') {
    const [sub, ...more] = rest;
    const { values } = parseArgs({ args: more, options: { config: { type: 'string' } }, strict: true });
    const loaded = values.config !== undefined ? await loadConfigFile(values.config) : loadDefault();
    if (sub === 'check') {
      checkTlsFiles(loaded.resolved, values.config ?? '(embedded default)');
      process.stdout.write(`ok: ${values.config ?? 'embedded default'}\n`);
      return 0;
    }
    if (sub === 'print') {
      process.stdout.write(writeConfig(loaded.model));
      return 0;
    }
  }
  process.stderr.write(`${USAGE}\n`);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== 0 || process.argv[2] !== 'start') process.exitCode = code;
  },
  (e) => {
    const d = errorToData(e);
    // a config error's message already lists every problem, one a line: each printed once
    const errors = (d.details?.errors ?? []) as Array<{ message: string }>;
    const lines = errors.length > 0 ? errors.map((x) => x.message) : d.message.split('\n');
    for (const l of lines) process.stderr.write(`postern: ${l}\n`);
    process.exitCode = 1;
  },
);
