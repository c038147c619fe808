#!/usr/bin/env node
// The committed entry point npm links as `fx`: it exists at install time (before any build) and keeps
// its executable bit across rebuilds, which a compiled dist file does neither.
import { launch } from '@fx/cli-kit/launch';

await launch('fx', new URL('../dist/index.js', import.meta.url));
