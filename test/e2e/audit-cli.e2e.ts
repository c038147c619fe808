import { jest } from '@jest/globals';
import { Client, type AuditEntry } from '@fx/sdk';
import { ServerProcess, tempDir, type TempDir } from '@fx/testing';
import { fxCli, usersWithTokens, type FxRun } from './fx-cli.fixture.js';

/**
 * `fx audit` and the SDK's `client.audit` / `client.auditEntries` (issue 17) against the built server:
 * the table newest first, `--json`, the JSON lines export, each filter, another user's empty view, an
 * admin's `--actor`, and usage errors with exit 2. No agent is needed: a submission is recorded when
 * it is accepted, and its task waits for the endpoint.
 */
jest.setTimeout(180_000);

let server: ServerProcess;
let home: TempDir;
let alice: Client;
let aliceId: string;
let env: Record<string, string>;
let bobEnv: Record<string, string>;
let adminEnv: Record<string, string>;
let fnId: string;
let taskId: string;

const cli = fxCli(() => home.path);
const fx = (args: string[], as: Record<string, string> = env) => cli.fx(args, as);
const fxJson = <T>(args: string[], as: Record<string, string> = env) => cli.fxJson<T>(args, as);
const lines = (r: FxRun) => r.out.split('\n').filter(Boolean);

beforeAll(async () => {
  server = await ServerProcess.start('embedded');
  const [a, b] = await usersWithTokens(server.url, server.adminToken, ['alice', 'bob']);
  env = { FX_URL: server.url, FX_TOKEN: a!.token };
  bobEnv = { FX_URL: server.url, FX_TOKEN: b!.token };
  adminEnv = { FX_URL: server.url, FX_TOKEN: server.adminToken };
  home = await tempDir('fx-audit-cli-home');
  alice = new Client({ url: server.url, token: a!.token });
  aliceId = a!.id;
  fnId = await alice.registerFunction((a: number, b: number) => a + b, { name: 'add' });
  const ep = await alice.registerEndpoint({ name: 'cluster' });
  taskId = await alice.run(fnId, ep.endpoint.id, [1, 2]);
  await alice.runBatch(ep.endpoint.id, [
    { functionId: 'add', args: [1, 1] },
    { functionId: 'add', args: [2, 2] },
  ]);
});

afterAll(async () => {
  alice?.close();
  await server?.stop();
  await home?.remove();
});

describe('fx audit', () => {
  it('lists what concerns you newest first, as a table and as JSON', () => {
    const table = fx(['audit']);
    expect(table.stderr).toBe('');
    expect(table.code).toBe(0);
    const rows = lines(table);
    expect(rows[0]).toMatch(/^AT\s+ACTOR\s+ACTION\s+TARGET\s+DETAILS$/);
    // the batch, the task, the endpoint and its token, the function; then the admin's acts about alice
    expect(rows[1]).toMatch(/alice\s+tasks\.submitted\s+task-group [0-9a-f-]{36}\s+.*\btasks=2\b/);
    expect(rows[2]).toMatch(new RegExp(`alice\\s+tasks\\.submitted\\s+task ${taskId}`));
    expect(rows.some((r) => /function\.registered\s+function .* name=add\b.*\bversion=1\b/.test(r))).toBe(true);
    expect(rows.some((r) => /^\S+ \S+\s+admin\s+user\.created\s+user /.test(r))).toBe(true);

    const { items } = fxJson<{ items: AuditEntry[] }>(['audit', '--action', 'tasks.submitted']);
    expect(items).toHaveLength(2);
    expect(items[1]).toMatchObject({ action: 'tasks.submitted', target: { type: 'task', id: taskId }, ownerId: aliceId, details: { tasks: 1 } });
    expect(fxJson<{ items: AuditEntry[] }>(['audit', '--target-type', 'task', '--target', taskId]).items.map((e) => e.target.id)).toEqual([taskId]);
    expect(fxJson<{ items: AuditEntry[] }>(['audit', '--limit', '2']).items).toHaveLength(2);
    expect(fx(['audit', '--since', '2999-01-01']).out.trim()).toBe('No audit entries match.');
    expect(fxJson<{ items: AuditEntry[] }>(['audit', '--since', '1h']).items.length).toBe(items.length + 5);
  });

  it('exports JSON lines oldest first, the same entries the SDK pages through', async () => {
    const r = fx(['audit', '--jsonl']);
    expect(r.code).toBe(0);
    const exported = lines(r).map((l) => JSON.parse(l) as AuditEntry);
    const viaSdk: AuditEntry[] = [];
    for await (const e of alice.auditEntries({ limit: 2 })) viaSdk.push(e);
    expect(exported).toEqual(viaSdk);
    expect(exported.map((e) => Number(e.id))).toEqual([...exported.map((e) => Number(e.id))].sort((a, b) => a - b));
    const page = await alice.audit({ limit: 3 });
    expect(page.items).toEqual(exported.slice(0, 3));
    expect(page.next).toBe(exported[2]!.id);
    const newest = await alice.audit({ order: 'desc', limit: 1 });
    expect(newest.items).toEqual(exported.slice(-1));
    expect(lines(fx(['audit', '--jsonl', '--limit', '2']))).toHaveLength(2);
    expect(lines(fx(['audit', '--jsonl', '--action', 'function.registered'])).map((l) => JSON.parse(l).target.id)).toEqual([fnId]);
  });

  it("shows another user nothing of alice's, and an admin alice's acts with --actor", () => {
    const bobs = fxJson<{ items: AuditEntry[] }>(['audit'], bobEnv).items;
    expect(bobs.length).toBeGreaterThan(0);
    expect(bobs.every((e) => e.ownerId !== aliceId && e.actor.id !== aliceId)).toBe(true);
    expect(fx(['audit', '--jsonl', '--actor', aliceId], bobEnv).out).toBe('');
    const byAlice = fxJson<{ items: AuditEntry[] }>(['audit', '--actor', aliceId, '--limit', '100'], adminEnv).items;
    expect(byAlice.map((e) => e.action).sort()).toEqual(['endpoint.registered', 'function.registered', 'tasks.submitted', 'tasks.submitted', 'token.issued']);
  });

  it('exits 2 on usage errors, naming what is allowed', () => {
    const action = fx(['audit', '--action', 'tasks.deleted']);
    expect(action.code).toBe(2);
    expect(action.stderr).toMatch(/"tasks\.deleted" is not an audit action; use user\.created, /);
    expect(fx(['audit', '--target-type', 'car']).code).toBe(2);
    expect(fx(['audit', '--actor', 'alice']).code).toBe(2);
    expect(fx(['audit', '--limit', '0']).code).toBe(2);
  });

  it('fx endpoints allow restricts an endpoint by function names, --any lifts it, and both are audited', () => {
    const set = fx(['endpoints', 'allow', 'cluster', 'add']);
    expect(set.stderr).toBe('');
    expect(set.out.trim()).toBe(`cluster may run 1 function(s): ${fnId}`);
    expect(fx(['endpoints', 'allow', 'cluster', '--any']).out.trim()).toBe('cluster may run any function');
    expect(fx(['endpoints', 'allow', 'cluster']).code).toBe(2);
    expect(fx(['endpoints', 'allow', 'cluster', 'add', '--any']).code).toBe(2);
    // bob cannot see alice's endpoint by name, so cannot change it
    expect(fx(['endpoints', 'allow', 'cluster', '--any'], bobEnv).code).toBe(1);
    const changes = fxJson<{ items: AuditEntry[] }>(['audit', '--action', 'endpoint.allowlist-changed']).items;
    expect(changes.map((e) => [e.details.before, e.details.after])).toEqual([
      [[fnId], null],
      [null, [fnId]],
    ]);
  });
});
