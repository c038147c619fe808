#!/usr/bin/env node
// `npm start`: FX all in one. Starts the server (its embedded PostgreSQL and in-process broker unless
// DATABASE_URL / REDIS_URL are set) and a built-in endpoint named `local` connected to it, then
// prints what a newcomer needs: the URL, the admin token (first start only), the endpoint id and an SDK
// example. The endpoint runs as an ordinary user "local" (its token in <data dir>/local-user.token, 0600)
// with a scrubbed environment: code it runs never sees the admin token, the signing key or DATABASE_URL.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { writeFileSync } from 'node:fs';
import { ensureUserToken } from './user-token.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dataDir = resolve(process.env.FX_DATA_DIR ?? join(root, '.fx'));
const fxHome = resolve(process.env.FX_HOME ?? join(dataDir, 'endpoint-home'));
const host = process.env.HOST ?? '127.0.0.1';
const port = process.env.PORT ?? '8080';
const url = process.env.FX_PUBLIC_URL ?? `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`;
const serverMain = join(root, 'apps/server/dist/main.js');
const endpointCli = join(root, 'apps/endpoint/dist/cli/index.js');
const name = 'local';

mkdirSync(dataDir, { recursive: true, mode: 0o700 });
// One FX_LOG_LEVEL (debug, info, warn or error) for the server and the agent alike; the all-in-one
// keeps start-up quiet with warn unless it is set. The children write to pipes (JSON by default), so on
// a terminal they are asked for readable lines unless FX_LOG_FORMAT says otherwise.
const logFormat = process.env.FX_LOG_FORMAT ?? (process.stdout.isTTY ? 'pretty' : undefined);
const logging = { FX_LOG_LEVEL: process.env.FX_LOG_LEVEL ?? 'warn', ...(logFormat ? { FX_LOG_FORMAT: logFormat } : {}) };
const env = { ...process.env, FX_DATA_DIR: dataDir, HOST: host, PORT: port, FX_HOME: fxHome, ...logging };
// The endpoint agent gets only what it needs: none of the server's settings or secrets (FX_DATA_DIR,
// DATABASE_URL, REDIS_URL, FX_SIGNING_KEY, ...), which its tasks could otherwise find.
const endpointEnv = Object.fromEntries(
  Object.entries({ PATH: process.env.PATH, LANG: process.env.LANG, TZ: process.env.TZ, HOME: process.env.HOME, FX_HOME: fxHome, ...logging }).filter(
    ([, v]) => v !== undefined,
  ),
);
const adminTokenFile = join(dataDir, 'admin.token');
// The admin token is shown once, on the start that creates it; later starts say where it is kept.
const firstStart = !existsSync(adminTokenFile);

if (!process.argv.includes('--no-build')) {
  process.stdout.write('building FX (nx; cached after the first time)… ');
  const build = spawnSync(process.execPath, [join(root, 'node_modules/nx/dist/bin/nx.js'), 'run-many', '-t', 'build', '--output-style=static'], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, NX_DAEMON: 'false' },
  });
  if (build.status !== 0) {
    console.log('failed\n' + build.stdout + build.stderr);
    process.exit(1);
  }
  console.log('done');
}

const prefix = (tag, stream) => {
  let buf = '';
  stream.on('data', (d) => {
    buf += d;
    const lines = buf.split('\n');
    buf = lines.pop();
    for (const l of lines) process.stdout.write(`[${tag}] ${l}\n`);
  });
};

// Children get their own process groups so that Ctrl-C reaches only this script, which then stops
// them in order: the endpoint drains first (its results still reach the server), then the server.
const server = spawn(process.execPath, [serverMain], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
// Ready means OUR server said it listens: another FX already on this port would answer /readyz too.
const listening = new Promise((resolve) => {
  let seen = '';
  server.stdout.on('data', (d) => {
    seen = (seen + d).slice(-4096);
    if (seen.includes('FX server listening on ')) resolve();
  });
});
prefix('server', server.stdout);
prefix('server', server.stderr);
let endpoint;
let stopping = false;
server.on('exit', (code) => {
  if (!stopping) {
    console.error(`FX server exited (${code}); stopping.`);
    endpoint?.kill('SIGTERM');
    process.exit(code ?? 1);
  }
});

async function waitReady() {
  const deadline = Date.now() + 120_000;
  await Promise.race([
    listening,
    new Promise((_, reject) => setTimeout(() => reject(new Error('the server did not start listening within 120 s')), 120_000).unref()),
  ]);
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`${url}/readyz`);
      if (res.ok) return;
    } catch {
      /* not listening yet */
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`the server did not become ready at ${url}/readyz within 120 s`);
}

function cli(args, input) {
  const r = spawnSync(process.execPath, [endpointCli, ...args], { env: endpointEnv, encoding: 'utf8', ...(input !== undefined ? { input } : {}) });
  if (r.status !== 0) throw new Error(`fx-endpoint ${args[0]} failed: ${(r.stderr || r.stdout).trim()}`);
  return r.stdout;
}

async function ensureLocalEndpoint(token) {
  const configFile = join(fxHome, 'endpoints', name, 'config.yaml');
  if (existsSync(configFile)) {
    // The data may have been reset (another DATABASE_URL): keep the config only if the server knows it.
    const { endpointId } = parseYaml(readFileSync(configFile, 'utf8'));
    const res = await fetch(`${url}/v1/endpoints/${endpointId}`, { headers: { authorization: `Bearer ${token}` } });
    if (res.ok) return endpointId;
  }
  // The token goes through stdin, not the process list.
  cli(['configure', name, '--url', url, '--token', '-', '--force'], token + '\n');
  // bwrap (sandbox: auto) hides FX_HOME and the home dir from tasks; the server's data dir too.
  const config = parseYaml(readFileSync(configFile, 'utf8'));
  writeFileSync(configFile, stringifyYaml({ ...config, sandboxHide: [dataDir] }), { mode: 0o600 });
  return config.endpointId;
}

function shutdown() {
  if (stopping) return;
  stopping = true;
  console.log('\nstopping the local endpoint (draining) and the server…');
  const stopServer = () => server.kill('SIGTERM');
  if (endpoint && endpoint.exitCode === null) {
    endpoint.once('exit', stopServer);
    endpoint.kill('SIGTERM');
  } else stopServer();
  server.once('exit', () => process.exit(0));
}
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);

try {
  await waitReady();
  const tokenFile = adminTokenFile;
  if (!existsSync(tokenFile))
    throw new Error(
      `no admin token in ${tokenFile}: this database was initialised from another data directory; use that directory's admin.token as FX_DATA_DIR`,
    );
  const adminToken = readFileSync(tokenFile, 'utf8').trim();
  // The endpoint's owner: an ordinary user, so that a function it runs can never act as the admin.
  const localTokenFile = join(dataDir, 'local-user.token');
  const localToken = await ensureUserToken({ url, adminToken, name: 'local', file: localTokenFile });
  const endpointId = await ensureLocalEndpoint(localToken);
  endpoint = spawn(process.execPath, [endpointCli, 'start', name], { env: endpointEnv, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  prefix('local', endpoint.stdout);
  prefix('local', endpoint.stderr);
  endpoint.on('exit', (code) => {
    if (!stopping) console.error(`[local] the local endpoint exited (${code}); the server keeps running`);
  });
  console.log(`
FX is running.
  URL:            ${url}   (API docs: ${url}/docs, admin console: ${url}/console)
  admin token:    ${firstStart ? `${adminToken}\n                  (kept in ${tokenFile}; shown on this first start only)` : `in ${tokenFile}`}
  local endpoint: ${endpointId}   (FX_HOME=${fxHome}; runs as the ordinary user "local")

Try it, in another terminal, from ${root}:
  FX_URL=${url} FX_TOKEN=$(cat ${localTokenFile}) FX_ENDPOINT=${endpointId} node examples/quickstart.mjs
  (as the user "local", whose endpoint it is; the admin token is for managing users and tokens)

which does:
  import { Client } from '@fx/sdk';
  const client = new Client({ url: process.env.FX_URL, token: process.env.FX_TOKEN });
  const add = await client.registerFunction((a, b) => a + b, { name: 'add' });
  const taskId = await client.run(add, process.env.FX_ENDPOINT, [1, 2]);
  console.log(await client.getResult(taskId, { timeoutMs: 30_000 }));   // 3
  client.close();

Press Ctrl-C to stop.
`);
} catch (e) {
  console.error(e instanceof Error ? e.message : e);
  stopping = true;
  endpoint?.kill('SIGTERM');
  server.kill('SIGTERM');
  process.exitCode = 1;
}
