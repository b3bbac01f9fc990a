#!/usr/bin/env node
// The `postern` command: runs src/cli/main.ts with the project's pinned Node 24 (npx and npm
// scripts put it first on the PATH), which runs TypeScript directly.
import '../src/cli/main.ts';
