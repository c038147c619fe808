import { jest } from '@jest/globals';
import {
  BATCH,
  deletePrefix,
  ensurePostgres,
  ensureRedis,
  eventually,
  flushAll,
  postgresReady,
  runScenario,
  sleep,
  stopPostgres,
  stopRedis,
  type FaultServer,
  type ScenarioReport,
} from './fault-harness.js';

/**
 * Crash every component mid-batch (issue 5). Each scenario submits 10,000 tasks of a short function to
 * a real server on real PostgreSQL + Redis with a real fx-endpoint agent, strikes once mid-run, and
 * ends with exactly 10,000 outcomes in the SDK, none twice, every row final.
 *
 * Run with `npm run test:faults`, alone: it restarts the local PostgreSQL and Redis and runs one
 * real FLUSHALL. Whatever happens, each service is brought back before the next scenario.
 */
jest.setTimeout(600_000);

const reports: ScenarioReport[] = [];
const expectBooksBalance = (r: ScenarioReport) => {
  reports.push(r);
  expect(r).toMatchObject({ submitted: BATCH, seen: BATCH, distinct: BATCH, duplicates: 0, final: BATCH, success: BATCH, failed: 0 });
};

afterEach(async () => {
  await ensureRedis();
  await ensurePostgres();
});

afterAll(() => {
  console.log(
    [
      '[faults] summary',
      ...reports.map(
        (r) =>
          `  ${r.scenario.padEnd(42)} ${r.distinct}/${r.submitted} results, ${r.duplicates} duplicates, ${r.final} final, ${r.retried} re-leased, ${r.seconds} s`,
      ),
    ].join('\n'),
  );
});

describe('faults, 10,000 tasks each, real PostgreSQL + Redis + fx-endpoint', () => {
  it('1. SIGKILL the endpoint agent and its workers, then start it again', async () => {
    const r = await runScenario('1 agent SIGKILL + restart', async ({ endpoint }) => {
      const workers = await endpoint.killAll();
      console.log(`[faults] killed the agent and ${workers} workers`);
      await sleep(1000);
      endpoint.start();
    });
    expectBooksBalance(r);
  });

  it('2. SIGKILL the server, then start it again', async () => {
    const r = await runScenario('2 server SIGKILL + restart', async ({ servers }) => {
      const server = servers[0]!;
      await server.kill();
      await sleep(1000);
      await server.boot();
    });
    expectBooksBalance(r);
  });

  it('3a. Redis loses every key mid-run: the server prefix deleted, then a real FLUSHALL', async () => {
    const r = await runScenario('3a Redis flush (prefix, then FLUSHALL)', async ({ backend, seen }) => {
      const n = await deletePrefix(backend.prefix);
      console.log(`[faults] deleted ${n} keys under ${backend.prefix}`);
      const at = seen();
      await eventually(() => seen() >= Math.min(BATCH - 500, at + 2500), 120_000, 'progress after the prefix flush');
      await flushAll();
      console.log('[faults] FLUSHALL');
    });
    expectBooksBalance(r);
  });

  it('3b. Redis restart (no persistence: its data is gone)', async () => {
    const r = await runScenario('3b Redis restart', async () => {
      try {
        stopRedis();
        await sleep(2000);
      } finally {
        await ensureRedis();
      }
    });
    expectBooksBalance(r);
  });

  it('4. PostgreSQL restart: the server answers what it can, then recovers by itself', async () => {
    let during: { healthz: number; readyz: number; submit: number } | undefined;
    const r = await runScenario('4 PostgreSQL restart', async ({ servers }) => {
      const url = servers[0]!.url;
      try {
        stopPostgres();
        const token = servers[0]!.adminToken;
        const submit = await fetch(`${url}/v1/tasks`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ functionId: '00000000-0000-4000-8000-000000000000', endpointId: '00000000-0000-4000-8000-000000000000' }),
        });
        during = { healthz: (await fetch(`${url}/healthz`)).status, readyz: (await fetch(`${url}/readyz`)).status, submit: submit.status };
        console.log(`[faults] PostgreSQL down: /healthz ${during.healthz}, /readyz ${during.readyz}, POST /v1/tasks ${during.submit}`);
        await sleep(2000);
      } finally {
        await ensurePostgres();
      }
      // While the pool reconnects a request may fail outright (a reset socket): that is "not ready yet" too.
      await eventually(async () => (await fetch(`${url}/readyz`).catch(() => undefined))?.ok ?? false, 30_000, 'ready again after PostgreSQL came back');
    });
    expectBooksBalance(r);
    // alive while the database is down, honestly not ready, and a submission is "try again", not a crash
    expect(during).toEqual({ healthz: 200, readyz: 503, submit: 503 });
    expect(await postgresReady()).toBe(true);
  });

  it('5. the agent socket goes silent (no FIN, no close frame): the agent notices by heartbeat', async () => {
    let noticedMs = 0;
    const r = await runScenario('5 socket blackholed', async ({ proxy, endpoint }) => {
      const before = endpoint.output.join('').length;
      const frozen = proxy.blackhole();
      const t0 = Date.now();
      await eventually(() => /nothing heard from the server/.test(endpoint.output.join('').slice(before)), 30_000, 'the agent noticing the silence');
      noticedMs = Date.now() - t0;
      console.log(`[faults] froze ${frozen} connection(s); the agent noticed by heartbeat after ${noticedMs} ms`);
    });
    expectBooksBalance(r);
    // heartbeatTimeoutMs is 4000 in these servers; an agent that noticed within it + one interval did so by heartbeat
    expect(noticedMs).toBeLessThan(4000 + 2000);
  });

  it("6. two replicas, SDK on one, agent on the other; the agent's replica is killed", async () => {
    const r = await runScenario(
      '6 two replicas, agent replica SIGKILL',
      async ({ servers, proxy }) => {
        const [a, b] = servers as [FaultServer, FaultServer];
        proxy.retarget(a.port);
        await b.kill();
        console.log("[faults] killed replica B (the agent's); the proxy now leads to replica A");
      },
      { replicas: 2 },
    );
    expectBooksBalance(r);
  });
});
