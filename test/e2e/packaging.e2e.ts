import { spawnSync } from 'node:child_process';
import { accessSync, constants, readdirSync, writeFileSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ServerProcess, tempDir, type TempDir } from '@fx/testing';

/**
 * What a user outside this repository meets (issue 11, items 1 and 2): the `fx-endpoint` bin works right
 * after `npm install`, and `npm run pack` writes tarballs that install into an empty folder elsewhere
 * and give a typed, working `import { Client } from '@fx/sdk'` and an `npx fx-endpoint`.
 */
const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const npm = (args: string[], cwd: string) => spawnSync('npm', args, { cwd, encoding: 'utf8', timeout: 170_000 });

let server: ServerProcess;
let outside: TempDir;
let tarballs: string[];

beforeAll(async () => {
  const packed = spawnSync(process.execPath, [join(root, 'scripts/pack.mjs'), '--no-build'], { cwd: root, encoding: 'utf8', timeout: 120_000 });
  if (packed.status !== 0) throw new Error(`npm run pack failed:\n${packed.stderr}${packed.stdout}`);
  tarballs = readdirSync(join(root, 'dist/packages')).map((f) => join(root, 'dist/packages', f));
  outside = await tempDir('fx-pack-probe');
  server = await ServerProcess.start('embedded');
}, 240_000);

afterAll(async () => {
  await server?.stop();
  await outside?.remove();
});

it('the repository links an executable fx-endpoint bin at install time', () => {
  const bin = join(root, 'node_modules/.bin/fx-endpoint');
  accessSync(bin, constants.X_OK);
  const r = spawnSync(bin, ['--help'], { encoding: 'utf8' });
  expect(r.status).toBe(0);
  expect(r.stdout).toMatch(/Usage: fx-endpoint/);
  const npx = spawnSync('npx', ['--no-install', 'fx-endpoint', '--version'], { cwd: root, encoding: 'utf8' });
  expect(npx.status).toBe(0);
  expect(npx.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
});

it('the repository links an executable fx bin at install time', () => {
  const bin = join(root, 'node_modules/.bin/fx');
  accessSync(bin, constants.X_OK);
  const npx = spawnSync('npx', ['--no-install', 'fx', '--help'], { cwd: root, encoding: 'utf8' });
  expect(npx.status).toBe(0);
  expect(npx.stdout).toMatch(/Usage: fx /);
});

it('npm run pack writes the five publishable tarballs', () => {
  expect(tarballs.map((t) => t.split('/').pop()).sort()).toEqual([
    'fx-cli-0.1.0.tgz',
    'fx-cli-kit-0.1.0.tgz',
    'fx-endpoint-0.1.0.tgz',
    'fx-protocol-0.1.0.tgz',
    'fx-sdk-0.1.0.tgz',
  ]);
  for (const t of tarballs) {
    const listing = spawnSync('tar', ['tzf', t], { encoding: 'utf8' }).stdout;
    expect(listing).toMatch(/package\/LICENSE/);
    expect(listing).toMatch(/package\/README\.md/);
    expect(listing).not.toMatch(/testing\/|__fixtures__|\.spec\./); // test fakes never ship
  }
});

it('the tarballs install outside the repository and work: SDK with types, and the agent CLI', () => {
  const dir = outside.path;
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'probe', private: true, type: 'module' }));
  const installed = npm(['install', '--no-audit', '--no-fund', '--prefer-offline', ...tarballs], dir);
  expect(installed.stderr).not.toMatch(/EBADENGINE/);
  expect(installed.status).toBe(0);

  writeFileSync(
    join(dir, 'app.ts'),
    `import { Client, NotFoundError, type ClientOptions } from '@fx/sdk';
const options: ClientOptions = { url: process.env.FX_URL!, token: process.env.FX_TOKEN! };
const client = new Client(options);
const me = await client.whoami();
const name: string = me.user.name;
const missing = await client.getTask('00000000-0000-4000-8000-000000000000').catch((e: unknown) => e);
console.log(JSON.stringify({ name, notFound: missing instanceof NotFoundError }));
client.close();
`,
  );
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        module: 'nodenext',
        moduleResolution: 'nodenext',
        strict: true,
        outDir: 'out',
        types: ['node'],
        typeRoots: [join(root, 'node_modules/@types')],
      },
      files: ['app.ts'],
    }),
  );
  const tsc = spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', dir], { cwd: dir, encoding: 'utf8' });
  expect(tsc.stdout + tsc.stderr).toBe('');
  expect(tsc.status).toBe(0);

  const run = spawnSync(process.execPath, [join(dir, 'out/app.js')], {
    cwd: dir,
    encoding: 'utf8',
    env: { ...process.env, FX_URL: server.url, FX_TOKEN: server.adminToken },
    timeout: 30_000,
  });
  expect(run.stderr).toBe('');
  expect(JSON.parse(run.stdout)).toEqual({ name: 'admin', notFound: true });

  const agent = spawnSync('npx', ['--no-install', 'fx-endpoint', '--help'], { cwd: dir, encoding: 'utf8' });
  expect(agent.status).toBe(0);
  expect(agent.stdout).toMatch(/configure/);

  const fx = spawnSync('npx', ['--no-install', 'fx', '--json', 'whoami'], {
    cwd: dir,
    encoding: 'utf8',
    env: { ...process.env, FX_HOME: join(dir, '.fx'), FX_URL: server.url, FX_TOKEN: server.adminToken },
  });
  expect(fx.stderr).toBe('');
  expect(fx.status).toBe(0);
  expect(JSON.parse(fx.stdout)).toMatchObject({ url: server.url, user: { name: 'admin' } });
});

it('the endpoint tarball ships the python worker where the built agent looks for it, and it runs a python task', () => {
  const listing = spawnSync('tar', ['tzf', tarballs.find((t) => t.includes('fx-endpoint'))!], { encoding: 'utf8' }).stdout;
  expect(listing).toMatch(/package\/python\/fx_worker\.py/);
  const workers = pathToFileURL(join(outside.path, 'node_modules/fx-endpoint/dist/providers/local/python.workers.js')).href;
  const probe = `const { PythonWorkers } = await import(${JSON.stringify(workers)});
const workers = new PythonWorkers({ size: 1 });
const invocation = { source: 'def main(x):\\n    print("hi")\\n    return x + 1\\n', entrypoint: 'main', contentHash: 'h', args: [41], kwargs: {}, maxResultBytes: 1000 };
const outcome = await workers.run('t', invocation, new AbortController().signal);
await workers.stop();
console.log(JSON.stringify(outcome));`;
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', probe], { cwd: outside.path, encoding: 'utf8', timeout: 30_000 });
  expect(run.stderr).toBe('');
  expect(JSON.parse(run.stdout)).toMatchObject({ status: 'success', result: 42, output: { stdout: 'hi\n', stderr: '' } });
});
