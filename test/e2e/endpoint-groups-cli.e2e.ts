import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { jest } from '@jest/globals';
import { Client, type EndpointGroupInfo, type EndpointInvitation } from '@fx/sdk';
import { EndpointProcess, ServerProcess, eventually, tempDir, type TempDir } from '@fx/testing';

/**
 * `fx endpoint-groups` as people and scripts run them (issue 16): the built bin as a child process with
 * its own FX_HOME, against the built server and a real agent. A group's name goes where `fx run` takes
 * an endpoint; another user's endpoint joins when that user accepts. Exit codes checked.
 */
const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const FX = join(root, 'apps/cli/bin/fx.js');
const UNKNOWN = '0f8fad5b-d9cb-469f-a165-70867728950e';
jest.setTimeout(180_000);

let server: ServerProcess;
let endpoint: EndpointProcess;
let home: TempDir;
let env: Record<string, string>;
let bobEnv: Record<string, string>;
let bobEndpoint: string;
let aliceToken: string;

function fx(args: string[], as: Record<string, string> = env): { code: number | null; out: string; stderr: string } {
  const r = spawnSync(FX, args, { timeout: 120_000, env: { PATH: process.env.PATH, HOME: process.env.HOME, FX_HOME: home.path, ...as } });
  return { code: r.status, out: r.stdout.toString('utf8'), stderr: r.stderr.toString('utf8') };
}

function fxJson<T>(args: string[], as: Record<string, string> = env): T {
  const r = fx(['--json', ...args], as);
  if (r.code !== 0) throw new Error(`fx --json ${args.join(' ')} exited ${r.code}:\n${r.stderr}${r.out}`);
  return JSON.parse(r.out) as T;
}

beforeAll(async () => {
  server = await ServerProcess.start('embedded');
  const admin = new Client({ url: server.url, token: server.adminToken });
  const tokens: string[] = [];
  for (const name of ['alice', 'bob']) tokens.push((await admin.createToken((await admin.createUser({ name })).id, { name: 'cli' })).token);
  admin.close();
  env = { FX_URL: server.url, FX_TOKEN: tokens[0]! };
  aliceToken = tokens[0]!;
  bobEnv = { FX_URL: server.url, FX_TOKEN: tokens[1]! };
  const alice = new Client({ url: server.url, token: tokens[0]! });
  await alice.registerFunction((a: number, b: number) => a + b, { name: 'add' });
  alice.close();
  const bob = new Client({ url: server.url, token: tokens[1]! });
  bobEndpoint = (await bob.registerEndpoint({ name: 'bobs' })).endpoint.id;
  bob.close();
  endpoint = await EndpointProcess.configure(server, 'cli-eg', { token: tokens[0]! });
  endpoint.start();
  home = await tempDir('fx-endpoint-groups-cli-home');
  await eventually(async () => fxJson<{ state: string }>(['endpoints', 'show', 'cli-eg']).state === 'online', 30_000, 'endpoint online');
});

afterAll(async () => {
  await endpoint?.stop();
  await server?.stop();
  await home?.remove();
});

it('creates a group, runs a task through its name, lists and shows it', () => {
  const created = fx(['endpoint-groups', 'create', 'pool', 'cli-eg']);
  expect(created.code).toBe(0);
  const id = created.out.trim();
  expect(id).toMatch(/^[0-9a-f-]{36}$/);
  expect(created.stderr).toMatch(/Created endpoint group pool .* with 1 member/);
  const run = fx(['run', 'add', '--endpoint', 'pool', '--args', '[20, 22]']);
  expect({ code: run.code, out: run.out }).toEqual({ code: 0, out: '42\n' });
  const shown = fxJson<EndpointGroupInfo>(['endpoint-groups', 'show', 'pool']);
  expect(shown).toMatchObject({ id, name: 'pool', members: [{ endpointId: endpoint.endpointId, state: 'active', online: true, name: 'cli-eg' }] });
  expect(fx(['endpoint-groups', 'ls']).out).toMatch(/pool/);
  expect(fxJson<{ items: EndpointGroupInfo[] }>(['endpoint-groups', 'ls']).items.map((g) => g.name)).toEqual(['pool']);
  // a name shaped like an id is a usage error; an unknown group is a failed request
  expect(fx(['endpoint-groups', 'create', UNKNOWN]).code).toBe(2);
  expect(fx(['endpoint-groups', 'show', UNKNOWN]).code).toBe(1);
});

it("invites another user's endpoint, which joins when its owner accepts, and leaves when they remove it", () => {
  const added = fxJson<EndpointGroupInfo>(['endpoint-groups', 'add', 'pool', bobEndpoint]);
  expect(added.members.find((m) => m.endpointId === bobEndpoint)).toMatchObject({ state: 'invited', name: null });
  expect(fx(['endpoint-groups', 'show', 'pool'], bobEnv).code).toBe(1);
  const invitations = fxJson<{ items: EndpointInvitation[] }>(['endpoint-groups', 'invitations'], bobEnv).items;
  expect(invitations).toEqual([expect.objectContaining({ groupName: 'pool', endpointId: bobEndpoint, ownerName: 'alice' })]);
  const groupId = invitations[0]!.groupId;
  expect(fx(['endpoint-groups', 'accept', groupId, bobEndpoint]).code).toBe(1);
  expect(fx(['endpoint-groups', 'accept', groupId, bobEndpoint], bobEnv).code).toBe(0);
  expect(fxJson<EndpointGroupInfo>(['endpoint-groups', 'show', 'pool']).members.find((m) => m.endpointId === bobEndpoint)?.state).toBe('active');
  expect(fx(['endpoint-groups', 'remove', groupId, bobEndpoint], bobEnv).code).toBe(0);
  expect(fxJson<EndpointGroupInfo>(['endpoint-groups', 'show', 'pool']).members.map((m) => m.endpointId)).toEqual([endpoint.endpointId]);
  expect(fx(['endpoint-groups', 'add', 'pool', bobEndpoint]).code).toBe(0);
  expect(fx(['endpoint-groups', 'decline', groupId, bobEndpoint], bobEnv).code).toBe(0);
  expect(fx(['endpoint-groups', 'rm', 'pool']).code).toBe(0);
  expect(fx(['endpoint-groups', 'show', 'pool']).code).toBe(1);
});

it('runs examples/endpoint-groups.mjs as docs/endpoint-groups.md prints it', async () => {
  const { stdout } = await promisify(execFile)(process.execPath, ['examples/endpoint-groups.mjs'], {
    cwd: root,
    env: { PATH: process.env.PATH, FX_URL: server.url, FX_TOKEN: aliceToken, FX_ENDPOINTS: 'cli-eg' },
    timeout: 120_000,
  });
  expect(stdout).toBe("[ 'active' ]\n[ 1, 4, 9, 16 ]\ntrue true\n");
});
