#!/usr/bin/env node
// The `postern` command: runs bin/main.ts with the project's pinned Node 24 (npx and npm
// scripts put it first on the PATH), which runs TypeScript directly.
//
// The compile cache keeps the type-stripped, compiled sources on disk, so each of the server's
// threads does not strip and compile them again (about half of a thread's memory at start).
// Worker threads inherit it through NODE_COMPILE_CACHE.
//
// `postern start` re-executes itself once (same pid, same arguments) with the environment and
// Node options of src/process-tuning.ts (malloc arenas, young generation size), which must be
// in place before the process starts; values the operator set are kept.
import module from 'node:module';
import os from 'node:os';
import path from 'node:path';

process.env.NODE_COMPILE_CACHE ??= path.join(os.tmpdir(), `postern-compile-cache-${process.getuid?.() ?? 'u'}`);
module.enableCompileCache?.(process.env.NODE_COMPILE_CACHE);
if (process.argv[2] === 'start' && typeof process.execve === 'function') {
  const { tunedLaunch } = await import('../src/process-tuning.ts');
  const t = tunedLaunch({ env: process.env, execArgv: process.execArgv });
  if (t.changed) {
    module.flushCompileCache?.();
    try {
      process.execve(process.execPath, [process.execPath, ...t.execArgv, ...process.argv.slice(1)], t.env);
    } catch {
      // cannot re-execute (e.g. a seccomp policy): run untuned
    }
  }
}
await import('./main.ts');
