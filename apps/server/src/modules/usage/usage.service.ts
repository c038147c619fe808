import { Injectable } from '@nestjs/common';
import { MAX_USAGE_KEYS, type BlockUsage, type UsageFigures, type UsageResponse, type UsageRow } from '@fx/protocol';
import type { Principal } from '../auth/principal.js';
import { UsageRepository, type BlockRow, type FiguresRow, type UsageScope } from './usage.repository.js';
import { usageWindow, type ParsedUsageQuery } from './usage-window.js';

const HOUR_MS = 3_600_000;
const hours = (ms: number) => ms / HOUR_MS;

function toFigures(r: FiguresRow): UsageFigures {
  return {
    attempts: r.attempts,
    tasks: r.tasks,
    wallHours: hours(r.wall_ms),
    coreHours: hours(r.core_ms),
    gpuHours: hours(r.gpu_ms),
    cpuHours: hours(r.cpu_ms),
    measuredAttempts: r.measured,
    maxRssBytes: r.max_rss === null ? null : Math.round(r.max_rss),
  };
}

function toBlockUsage(b: BlockRow): BlockUsage {
  const busy = hours(b.busy_node_ms);
  const idle = hours(b.idle_node_ms);
  return {
    endpointId: b.endpoint_id,
    endpointName: b.name,
    blocks: b.blocks,
    // the agent's own busy + idle count, cut to the window: node-hours always add up to busy + idle
    nodeHours: busy + idle,
    busyNodeHours: busy,
    idleNodeHours: idle,
    idleShare: busy + idle > 0 ? idle / (busy + idle) : null,
  };
}

/**
 * Accounting reports (GET /v1/usage): what attempts held, summed per user, endpoint or function and
 * per time bucket, and what pilot blocks cost. A user sees their own tasks' usage and their own
 * endpoints' blocks; an admin sees everyone's. The scope is fixed before anything is read.
 */
@Injectable()
export class UsageService {
  constructor(private readonly usage: UsageRepository) {}

  async report(p: Principal, q: ParsedUsageQuery, now = Date.now()): Promise<UsageResponse> {
    const w = usageWindow(q, now);
    const scope: UsageScope = { since: w.since, until: w.until, viewer: p.admin ? null : p.userId };
    const [total, keyRows, blocks] = await Promise.all([
      this.usage.total(scope),
      this.usage.keys(scope, w.by, MAX_USAGE_KEYS),
      this.usage.blocks(scope, MAX_USAGE_KEYS),
    ]);
    const listed = keyRows.filter((r) => r.key !== null);
    const others = keyRows.find((r) => r.key === null);
    const rows: UsageRow[] = listed.map((r) => ({ key: r.key!, name: r.name, ...toFigures(r) }));
    const points = rows.length
      ? await this.usage.series(
          scope,
          w.by,
          w.bucket,
          rows.map((r) => r.key),
        )
      : [];
    return {
      by: w.by,
      since: w.since.toISOString(),
      until: w.until.toISOString(),
      bucket: w.bucket,
      total: toFigures(total),
      rows,
      ...(others ? { others: toFigures(others) } : {}),
      series: points.map((pt) => ({ at: new Date(pt.at).toISOString(), key: pt.key, coreHours: hours(pt.core_ms), gpuHours: hours(pt.gpu_ms) })),
      blocks: blocks.map(toBlockUsage),
    };
  }
}
