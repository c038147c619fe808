// Real FX processes for the benchmark: the built server (apps/server/dist/main.js) and the built
// `fx-endpoint` CLI, started the way users start them by the @fx/testing process fixtures (the ones the
// end-to-end tests use), and tracked so that an interrupted run still cleans up.
import { readFileSync } from 'node:fs';
import { EndpointProcess, FX_ROOT, ServerProcess, cleanupRedisPrefix, randomPrefix, testRedisUrl } from '@fx/testing';

export const root = FX_ROOT;

/** CPU seconds (user + system) a process has used so far, from /proc (Linux). */
export function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
}

/** Resident memory of a process in bytes, from /proc (Linux). */
export function rssBytes(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

/**
 * The PostgreSQL backends serving a database (their pids, for their CPU in /proc), read through a
 * connection of its own, which is left out; `close` ends it.
 */
export async function databaseBackends(databaseUrl) {
  const { default: pg } = await import('pg');
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  return {
    pids: async () =>
      (await db.query('SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()')).rows.map((r) => r.pid),
    close: () => db.end(),
  };
}

/** Everything started and not yet stopped, so that an interrupted run still cleans up (stopAll). */
const live = new Set();
export async function stopAll() {
  for (const x of [...live].reverse()) await x.stop().catch(() => undefined);
}
export function track(x) {
  live.add(x);
  return x;
}
/** Waits for `stopping` (x's own stop) and forgets x; a run's numbers are worth more than its cleanup, so a failure is only said. */
async function untracked(x, stopping) {
  live.delete(x);
  await stopping.catch((e) => console.error(`bench: cleanup: ${e.message}`));
}

/** Node flags from an environment variable (FX_BENCH_SERVER_NODE_ARGS, FX_BENCH_AGENT_NODE_ARGS: `--cpu-prof`), for profiling. */
const nodeArgsFrom = (name) => process.env[name]?.split(' ').filter(Boolean) ?? [];

export class FxServer extends ServerProcess {
  static async start(backend, { nodeArgs = [], env = {} } = {}) {
    const options = { nodeArgs: [...nodeArgs, ...nodeArgsFrom('FX_BENCH_SERVER_NODE_ARGS')], keepOutput: 500, dirLabel: 'fx-bench-server' };
    return track(await super.start(backend, env, options));
  }

  async stop() {
    await untracked(this, super.stop());
  }
}

export class FxEndpoint extends EndpointProcess {
  static async configure(server, name, { workers } = {}) {
    const endpoint = track(await super.configure(server, name, { workers, keepOutput: 500, dirLabel: 'fx-bench-home' }));
    // config.yaml keys for an experiment, e.g. FX_BENCH_AGENT_CONFIG='{"taskLogLevel":"off"}'
    if (process.env.FX_BENCH_AGENT_CONFIG) await endpoint.mergeConfig(JSON.parse(process.env.FX_BENCH_AGENT_CONFIG));
    return endpoint;
  }

  start() {
    return super.start({ nodeArgs: nodeArgsFrom('FX_BENCH_AGENT_NODE_ARGS') });
  }

  async stop() {
    await untracked(this, super.stop());
  }
}

export { randomPrefix, testRedisUrl, cleanupRedisPrefix };
