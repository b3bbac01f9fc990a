#!/usr/bin/env node
// The `postern` command: runs bin/main.ts with the project's pinned Node 24 (npx and npm
// scripts put it first on the PATH), which runs TypeScript directly.
//
// The compile cache keeps the type-stripped, compiled sources on disk, so each of the server's
// threads does not strip and compile them again (about half of a thread's memory at start).
// Worker threads inherit it through NODE_COMPILE_CACHE.
import module from 'node:module';
import os from 'node:os';
import path from 'node:path';

process.env.NODE_COMPILE_CACHE ??= path.join(os.tmpdir(), `postern-compile-cache-${process.getuid?.() ?? 'u'}`);
module.enableCompileCache?.(process.env.NODE_COMPILE_CACHE);
await import('./main.ts');
