#!/usr/bin/env node
import { ConfigError, loadConfig } from './config/env.js';
import { startServer } from './server.js';

// Everything this process writes (the data dir: tokens, signing key, PGlite's files) is for its user only.
process.umask(0o077);
try {
  const config = loadConfig();
  const server = await startServer(config);
  console.log(`FX server listening on ${server.url}`);
  if (server.adminToken) console.log(`admin token (also in ${config.FX_DATA_DIR}/admin.token): ${server.adminToken}`);
} catch (e) {
  console.error(e instanceof ConfigError ? e.message : e);
  process.exit(1);
}
