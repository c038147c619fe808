import type { BlockUsage, UsageBucket, UsagePoint } from '@fx/protocol';

/** Hours for people: two decimals, more digits for small amounts (a few core-seconds are not 0.00). */
export function hours(h: number): string {
  if (h === 0) return '0';
  if (h >= 100) return h.toFixed(0);
  if (h >= 0.01) return h.toFixed(2);
  return h.toPrecision(2);
}

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/** Every bucket start (UTC) from the one holding `since` to the last before `until`, as the server buckets. */
export function bucketStarts(since: string, until: string, bucket: UsageBucket): string[] {
  const step = bucket === 'hour' ? HOUR_MS : DAY_MS;
  const end = Date.parse(until);
  const starts: string[] = [];
  for (let t = Math.floor(Date.parse(since) / step) * step; t < end; t += step) starts.push(new Date(t).toISOString());
  return starts;
}

/** A bucket's label: its UTC day, and hour for hourly buckets. */
export function bucketLabel(at: string, bucket: UsageBucket): string {
  return bucket === 'hour' ? `${at.slice(5, 10)} ${at.slice(11, 13)}:00` : at.slice(0, 10);
}

// distinguishable in light and dark themes; the keys past them share the last, grey one
const PALETTE = ['#2459d1', '#1a7f37', '#bc4c00', '#8250df', '#0a7b83', '#c62828', '#9a6700', '#d63384'];
const REST_COLOR = '#8c959f';
/** Keys drawn in their own colour; the rest of the listed keys are stacked together as one. */
export const CHART_KEYS = PALETTE.length;
export const REST_KEY = '__rest';

export interface ChartKey {
  key: string;
  label: string;
  color: string;
}

/** The chart's keys: the first CHART_KEYS of `keys` (most core-hours first), then one for the rest. */
export function chartKeys(keys: Array<{ key: string; label: string }>): ChartKey[] {
  const own = keys.slice(0, CHART_KEYS).map((k, i) => ({ ...k, color: PALETTE[i]! }));
  return keys.length > CHART_KEYS ? [...own, { key: REST_KEY, label: `${keys.length - CHART_KEYS} more`, color: REST_COLOR }] : own;
}

/**
 * Hours per bucket, stacked by key: one bar per bucket, one segment per key with usage in it, hand-drawn
 * in SVG. Each segment carries its key, bucket and value (data-*) and says them in its tooltip.
 */
export function StackedBars({
  title,
  unit,
  points,
  metric,
  buckets,
  bucket,
  keys,
}: {
  title: string;
  unit: string;
  points: UsagePoint[];
  metric: 'coreHours' | 'gpuHours';
  buckets: string[];
  bucket: UsageBucket;
  keys: ChartKey[];
}) {
  const known = new Set(keys.map((k) => k.key));
  const cell = new Map<string, Map<string, number>>();
  for (const p of points) {
    const key = known.has(p.key) ? p.key : REST_KEY;
    const row = cell.get(p.at) ?? new Map<string, number>();
    row.set(key, (row.get(key) ?? 0) + p[metric]);
    cell.set(p.at, row);
  }
  const totals = buckets.map((b) => [...(cell.get(b)?.values() ?? [])].reduce((n, v) => n + v, 0));
  const sum = totals.reduce((n, v) => n + v, 0);
  const peak = Math.max(...totals, 0);
  const max = peak || 1;
  const w = 600;
  const h = 160;
  const bw = w / Math.max(1, buckets.length);
  const per = bucket === 'hour' ? 'hour' : 'day';
  return (
    <figure className="chart usage-chart" data-metric={metric}>
      <figcaption className="chart-title">{title}</figcaption>
      {sum === 0 ? <p className="muted">No {unit} in this window.</p> : null}
      <svg viewBox={`0 0 ${w} ${h}`} role="img" aria-label={`${title}: ${hours(sum)} ${unit} in ${buckets.length} ${per}s`} preserveAspectRatio="none">
        {[0.25, 0.5, 0.75, 1].map((f) => (
          <line key={f} x1={0} x2={w} y1={h - f * h} y2={h - f * h} className="chart-grid" />
        ))}
        {buckets.map((b, i) => {
          let y = h;
          return (
            <g key={b} data-bucket={b}>
              {keys.map((k) => {
                const v = cell.get(b)?.get(k.key) ?? 0;
                if (v <= 0) return null;
                const bh = (v / max) * h;
                y -= bh;
                return (
                  <rect
                    key={k.key}
                    className="usage-bar"
                    x={i * bw + 1}
                    width={Math.max(1, bw - 2)}
                    y={y}
                    height={bh}
                    fill={k.color}
                    data-key={k.key}
                    data-bucket={b}
                    data-value={v}
                  >
                    <title>{`${bucketLabel(b, bucket)} UTC · ${k.label}: ${hours(v)} ${unit}`}</title>
                  </rect>
                );
              })}
            </g>
          );
        })}
      </svg>
      <div className="chart-axis muted small" aria-hidden="true">
        <span>{buckets.length ? bucketLabel(buckets[0]!, bucket) : ''}</span>
        <span>
          peak {hours(peak)} per {per}
        </span>
        <span>{buckets.length ? `${bucketLabel(buckets.at(-1)!, bucket)} UTC` : ''}</span>
      </div>
      <ul className="chart-legend small" aria-label={`Keys of ${title}`}>
        {keys.map((k) => (
          <li key={k.key}>
            <span className="legend" style={{ background: k.color }} /> {k.label}
          </li>
        ))}
      </ul>
    </figure>
  );
}

/** Busy and idle node-hours of each endpoint's pilot blocks, as bars on one scale, with the idle share. */
export function BlockWaste({ blocks }: { blocks: BlockUsage[] }) {
  const max = Math.max(...blocks.map((b) => b.nodeHours), 0) || 1;
  const w = 240;
  return (
    <table className="table responsive block-waste">
      <Headings names={['Endpoint', 'Blocks', 'Node-hours', 'Busy / idle', 'Idle share']} />
      <tbody>
        {blocks.map((b) => {
          const busy = (b.busyNodeHours / max) * w;
          const idle = (b.idleNodeHours / max) * w;
          const name = b.endpointName ?? b.endpointId;
          return (
            <tr key={b.endpointId} data-endpoint={b.endpointId}>
              <td data-label="Endpoint">{name}</td>
              <td data-label="Blocks">{b.blocks}</td>
              <td data-label="Node-hours">{hours(b.nodeHours)}</td>
              <td data-label="Busy / idle">
                <svg
                  viewBox={`0 0 ${w} 14`}
                  width={w}
                  height={14}
                  role="img"
                  aria-label={`${name}: ${hours(b.busyNodeHours)} node-hours busy, ${hours(b.idleNodeHours)} idle`}
                >
                  <rect className="block-busy" x={0} y={0} width={busy} height={14} data-value={b.busyNodeHours} />
                  <rect className="block-idle" x={busy} y={0} width={idle} height={14} data-value={b.idleNodeHours} />
                </svg>
                <div className="muted small">
                  {hours(b.busyNodeHours)} busy · {hours(b.idleNodeHours)} idle
                </div>
              </td>
              <td data-label="Idle share" className="idle-share">
                {b.idleShare === null ? '—' : `${(b.idleShare * 100).toFixed(1)}%`}
              </td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

/** A table's column headings. */
export function Headings({ names }: { names: string[] }) {
  return (
    <thead>
      <tr>
        {names.map((n) => (
          <th key={n} scope="col">
            {n}
          </th>
        ))}
      </tr>
    </thead>
  );
}
