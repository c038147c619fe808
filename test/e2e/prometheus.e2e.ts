import { jest } from '@jest/globals';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client } from '@fx/sdk';
import { EndpointProcess, FX_ROOT, ServerProcess, collectOutput, eventually, exited, freePort, tempDir, type TempDir } from '@fx/testing';

/**
 * Prometheus scraping FX (issue 17): Debian's real `prometheus` scrapes a real server every second,
 * with FX's shipped alerting rules loaded; a batch of tasks (some failing) runs on a real agent, and
 * its counts and its latency histogram are read back through Prometheus's own query API. The rules
 * pass `promtool check rules`, and Prometheus reports every one of them evaluated with health "ok".
 */
jest.setTimeout(240_000);

const PROMETHEUS = '/usr/bin/prometheus';
const PROMTOOL = '/usr/bin/promtool';
const RULES = join(FX_ROOT, 'deploy/prometheus/alerts.yml');
const run = promisify(execFile);

/** Fails every third task: its index is a multiple of 3. */
const everyThirdFails = (i: number) => {
  if (i % 3 === 0) throw new Error(`task ${i} fails on purpose`);
  return i * 2;
};
const N = 20;
const FAILING = Array.from({ length: N }, (_, i) => i).filter((i) => i % 3 === 0).length;

interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

describe('Prometheus scraping FX', () => {
  let server: ServerProcess;
  let endpoint: EndpointProcess;
  let client: Client;
  let dir: TempDir;
  let prometheus: ChildProcess | undefined;
  let promUrl: string;
  const promOutput: string[] = [];
  const logs = () => `--- prometheus ---\n${promOutput.join('').slice(-4000)}\n--- server ---\n${server?.log()}\n--- agent ---\n${endpoint?.log()}`;

  /** GET from Prometheus's HTTP API; its envelope must say success. */
  const api = async <T>(path: string): Promise<T> => {
    const res = await fetch(`${promUrl}${path}`);
    const body = (await res.json()) as { status: string; data: T; error?: string };
    if (res.status !== 200 || body.status !== 'success') throw new Error(`Prometheus ${path}: ${res.status} ${body.error ?? ''}`);
    return body.data;
  };
  /** The value of an instant query that yields one sample (undefined while it yields none). */
  const query = async (promql: string): Promise<number | undefined> => {
    const data = await api<{ resultType: string; result: Sample[] }>(`/api/v1/query?query=${encodeURIComponent(promql)}`);
    if (data.result.length > 1) throw new Error(`${promql} gave ${data.result.length} series`);
    return data.result[0] ? Number(data.result[0].value[1]) : undefined;
  };
  const until = async (promql: string, want: number) => {
    let last: number | undefined;
    await eventually(async () => (last = await query(promql)) === want, 60_000, `${promql} = ${want}`, { intervalMs: 500 }).catch((e: Error) => {
      throw new Error(`${e.message} (last: ${last})\n${logs()}`);
    });
  };

  beforeAll(async () => {
    server = await ServerProcess.start('postgres+redis', { FX_HEARTBEAT_INTERVAL_MS: '500', FX_HEARTBEAT_TIMEOUT_MS: '3000' });
    const admin = new Client({ url: server.url, token: server.adminToken });
    const user = await admin.createUser({ name: 'ada' });
    const token = (await admin.createToken(user.id)).token;
    admin.close();
    client = new Client({ url: server.url, token });
    endpoint = await EndpointProcess.configure(server, 'ep', { workers: 2, token });
    endpoint.start();
    await eventually(async () => (await client.getEndpoint(endpoint.endpointId)).state === 'online', 30_000, 'endpoint online');

    dir = await tempDir('fx-prometheus');
    const port = await freePort();
    promUrl = `http://127.0.0.1:${port}`;
    const config = join(dir.path, 'prometheus.yml');
    await writeFile(
      config,
      [
        'global: { scrape_interval: 1s, evaluation_interval: 1s }',
        `rule_files: [${JSON.stringify(RULES)}]`,
        'scrape_configs:',
        '  - job_name: fx',
        '    scrape_interval: 1s',
        `    static_configs: [{ targets: ['127.0.0.1:${server.port}'] }]`,
        '',
      ].join('\n'),
    );
    prometheus = spawn(
      PROMETHEUS,
      [`--config.file=${config}`, `--storage.tsdb.path=${join(dir.path, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    collectOutput(prometheus, promOutput);
    await eventually(
      async () => {
        if (prometheus!.exitCode !== null) throw new Error(`prometheus exited (${prometheus!.exitCode}):\n${promOutput.join('')}`);
        return (await fetch(`${promUrl}/-/ready`).catch(() => null))?.ok;
      },
      60_000,
      'prometheus ready',
    );
  });

  afterAll(async () => {
    client?.close();
    // exactly the process this test started
    if (prometheus && prometheus.exitCode === null && prometheus.signalCode === null) {
      prometheus.kill('SIGTERM');
      await exited(prometheus, { timeoutMs: 15_000, killOnTimeout: true });
    }
    await dir?.remove();
    await endpoint?.stop();
    await server?.stop();
  });

  it('passes promtool check rules', async () => {
    const { stdout } = await run(PROMTOOL, ['check', 'rules', RULES]);
    expect(stdout).toMatch(/SUCCESS: \d+ rules found/);
  });

  it("receives a batch's counts, success and failed, and its latency histogram through the query API", async () => {
    const fn = await client.registerFunction(everyThirdFails, { name: 'every-third-fails' });
    const ids = await client.runBatch(
      endpoint.endpointId,
      Array.from({ length: N }, (_, i) => ({ functionId: fn, args: [i] })),
    );
    const outcomes = [];
    for await (const o of client.results(ids, { timeoutMs: 120_000 })) outcomes.push(o);
    expect(outcomes.filter((o) => o.status === 'failed')).toHaveLength(FAILING);

    const ep = `endpoint="${endpoint.endpointId}"`;
    await until(`sum(fx_tasks_submitted_total{${ep}})`, N);
    await until(`sum(fx_tasks_finished_total{${ep},state="success"})`, N - FAILING);
    await until(`sum(fx_tasks_finished_total{${ep},state="failed"})`, FAILING);
    await until('sum(fx_task_latency_seconds_count{runtime="js"})', N);
    await until('sum(fx_task_latency_seconds_bucket{runtime="js",le="+Inf"})', N);
    await until('sum(fx_task_run_seconds_count{runtime="js"})', N);
    // the agent's heartbeat figures arrive labelled by its endpoint
    await until(`sum(fx_agent_workers{${ep}})`, 2);
    await until(`max(fx_endpoint_up{${ep}})`, 1);
    const p50 = await query('histogram_quantile(0.5, sum by (le) (fx_task_latency_seconds_bucket{runtime="js"}))');
    expect(p50).toBeGreaterThan(0);
    const targets = await api<{ activeTargets: Array<{ health: string; lastError: string }> }>('/api/v1/targets');
    expect(targets.activeTargets.map((t) => [t.health, t.lastError])).toEqual([['up', '']]);
  });

  it('has the alerting rules loaded and evaluated with health ok', async () => {
    type Rules = { groups: Array<{ name: string; rules: Array<{ name: string; type: string; health: string; lastError?: string }> }> };
    let rules: Rules['groups'][number]['rules'] = [];
    await eventually(
      async () => {
        rules = (await api<Rules>('/api/v1/rules')).groups.flatMap((g) => g.rules);
        return rules.length > 0 && rules.every((r) => r.health === 'ok');
      },
      30_000,
      'every rule evaluated ok',
    ).catch((e: Error) => {
      throw new Error(`${e.message}: ${JSON.stringify(rules.map((r) => [r.name, r.health, r.lastError]))}\n${logs()}`);
    });
    expect(rules.every((r) => r.type === 'alerting')).toBe(true);
    expect(rules.map((r) => r.name)).toEqual(
      expect.arrayContaining(['FxEndpointOffline', 'FxQueueGrowing', 'FxTaskFailureRateHigh', 'FxAgentSpoolGrowing', 'FxDatabaseDown', 'FxBrokerDown']),
    );
  });
});
