#!/usr/bin/env node
import { ConfigError, loadConfig, type AppConfig } from './config/env.js';
import { startServer } from './server.js';
import { DataDirLockedError } from './storage/data-dir.lock.js';

// Everything this process writes (the data dir: tokens, signing key, the embedded store) is for its user only.
process.umask(0o077);
let config: AppConfig | undefined;
try {
  config = loadConfig();
  const server = await startServer(config);
  console.log(`FX server listening on ${server.url}`);
  if (server.adminToken) console.log(`admin token (also in ${config.FX_DATA_DIR}/admin.token): ${server.adminToken}`);
} catch (e) {
  // Refusals a user can act on are one sentence; anything else keeps its stack.
  if ((e as NodeJS.ErrnoException)?.code === 'EADDRINUSE' && config) {
    console.error(`FX server cannot listen on ${config.HOST}:${config.PORT}: another program uses that port (set PORT, or stop it)`);
  } else console.error(e instanceof ConfigError || e instanceof DataDirLockedError ? e.message : e);
  process.exit(1);
}
