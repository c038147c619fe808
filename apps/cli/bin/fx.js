#!/usr/bin/env node
// The committed entry point npm links as `fx`: it exists at install time (before any build) and keeps
// its executable bit across rebuilds, which a compiled dist file does neither.
import { existsSync } from 'node:fs';

const cli = new URL('../dist/index.js', import.meta.url);
if (!existsSync(cli)) {
  process.stderr.write('fx: not built yet; run "npm run build" in the FX repository first\n');
  process.exit(1);
}
await import(cli.href);
