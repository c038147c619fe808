#!/usr/bin/env node
// `npm run pack`: builds, then writes installable tarballs of the published packages to dist/packages/
// (fx-protocol-<v>.tgz, fx-sdk-<v>.tgz, fx-cli-kit-<v>.tgz, fx-endpoint-<v>.tgz, fx-cli-<v>.tgz). `--no-build` skips the build (npm test
// has just built). Install them together: `npm install dist/packages/*.tgz`.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist/packages');
const WORKSPACES = ['libs/protocol', 'libs/sdk', 'libs/cli-kit', 'apps/endpoint', 'apps/cli'];
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

function run(args, quiet = false) {
  const r = spawnSync(npm, args, { cwd: root, stdio: ['ignore', quiet ? 'ignore' : 'inherit', 'inherit'] });
  if (r.status !== 0) {
    console.error(`pack: "npm ${args.join(' ')}" failed (${r.status ?? r.signal})`);
    process.exit(1);
  }
}

if (!process.argv.includes('--no-build')) run(['run', 'build', '--silent']);
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
run(['pack', '--silent', '--pack-destination', out, ...WORKSPACES.map((w) => `--workspace=${w}`)], true);
for (const f of readdirSync(out).sort()) console.log(join('dist/packages', f));
