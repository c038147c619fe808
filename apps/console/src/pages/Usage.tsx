import type { ChangeEvent, ReactNode } from 'react';
import { UsageBy, type UsageBucket, type UsageFigures, type UsageResponse } from '@fx/protocol';
import { useSession } from '../app-context';
import { bytes, ErrorNote, Loading, shortId, When } from '../components';
import { PageFrame, usePageData } from '../page';
import { Link, navigate, useLocation } from '../router';
import { BlockWaste, bucketStarts, chartKeys, Headings, hours, StackedBars } from './usage/UsageCharts';

/** The windows the page offers, back from now, and the bucket each is drawn in. */
const RANGES: Record<string, { label: string; ms: number; bucket: UsageBucket }> = {
  '24h': { label: 'Last 24 hours', ms: 86_400_000, bucket: 'hour' },
  '7d': { label: 'Last 7 days', ms: 7 * 86_400_000, bucket: 'day' },
  '30d': { label: 'Last 30 days', ms: 30 * 86_400_000, bucket: 'day' },
  '90d': { label: 'Last 90 days', ms: 90 * 86_400_000, bucket: 'day' },
};
const BY_LABEL: Record<UsageBy, string> = { user: 'User', endpoint: 'Endpoint', function: 'Function' };
const TASKS_OF: Record<UsageBy, string> = { user: 'ownerId', endpoint: 'endpointId', function: 'functionId' };

/**
 * What attempts held and used (core-, GPU- and CPU-hours) per user, endpoint or function, over time, and
 * the idle waste of pilot blocks. The choice lives in the query string (`by`, `range`, or an exact
 * `since` and `until`), so a view can be linked to.
 */
export function Usage() {
  const { api, user } = useSession();
  const { search } = useLocation();
  const by = (UsageBy.safeParse(search.get('by')).data ?? 'user') as UsageBy;
  const custom = search.get('since') && search.get('until') ? { since: search.get('since')!, until: search.get('until')! } : null;
  const rangeKey = custom ? 'custom' : RANGES[search.get('range') ?? ''] ? search.get('range')! : '7d';
  const bucket: UsageBucket = custom ? ((search.get('bucket') as UsageBucket | null) ?? 'day') : RANGES[rangeKey]!.bucket;
  const state = usePageData(() => {
    const until = new Date();
    const window = custom ?? { since: new Date(until.getTime() - RANGES[rangeKey]!.ms).toISOString(), until: until.toISOString() };
    return api.usage({ by, bucket, ...window });
  }, [api, by, bucket, rangeKey, custom?.since, custom?.until]);

  const choose = (name: 'by' | 'range') => (e: ChangeEvent<HTMLSelectElement>) => {
    const p = new URLSearchParams(search);
    p.set(name, e.target.value);
    if (name === 'range') ['since', 'until', 'bucket'].forEach((k) => p.delete(k));
    navigate(`/usage?${p.toString()}`, true);
  };

  return (
    <PageFrame id="usage" title="Usage">
      <form className="filters" aria-label="Usage view" onSubmit={(e) => e.preventDefault()}>
        <label>
          Group by
          <select name="by" value={by} onChange={choose('by')}>
            {UsageBy.options.map((b) => (
              <option key={b} value={b}>
                {BY_LABEL[b]}
              </option>
            ))}
          </select>
        </label>
        <label>
          Window
          <select name="range" value={rangeKey} onChange={choose('range')}>
            {Object.entries(RANGES).map(([k, r]) => (
              <option key={k} value={k}>
                {r.label}
              </option>
            ))}
            {custom ? <option value="custom">From the link</option> : null}
          </select>
        </label>
      </form>
      {state.error ? <ErrorNote error={state.error} onRetry={state.reload} /> : null}
      {state.data === null ? state.error ? null : <Loading what="usage" /> : <Report r={state.data} everyone={user.admin} />}
    </PageFrame>
  );
}

function Report({ r, everyone }: { r: UsageResponse; everyone: boolean }) {
  const label = (row: { key: string; name: string | null }) => row.name ?? shortId(row.key);
  const keys = chartKeys(r.rows.map((row) => ({ key: row.key, label: label(row) })));
  const colorOf = new Map(keys.map((k) => [k.key, k.color]));
  const buckets = bucketStarts(r.since, r.until, r.bucket);
  const busy = r.blocks.reduce((n, b) => n + b.busyNodeHours, 0);
  const idle = r.blocks.reduce((n, b) => n + b.idleNodeHours, 0);
  const per = BY_LABEL[r.by].toLowerCase();
  return (
    <>
      <p className="muted summary">
        Attempts that ended from <When iso={r.since} /> to <When iso={r.until} />, {everyone ? 'of every user' : 'of your tasks'}; buckets are UTC{' '}
        {r.bucket === 'hour' ? 'hours' : 'days'}.
      </p>
      <div className="stats" aria-label="Totals">
        <Stat label="Core-hours" value={hours(r.total.coreHours)} id="core" />
        <Stat label="GPU-hours" value={hours(r.total.gpuHours)} id="gpu" />
        <Stat label={`CPU-hours (${r.total.measuredAttempts} of ${r.total.attempts} measured)`} value={hours(r.total.cpuHours)} id="cpu" />
        <Stat label="Attempts" value={String(r.total.attempts)} id="attempts" />
        <Stat label="Tasks" value={String(r.total.tasks)} id="tasks" />
        <Stat label="Idle share of pilot blocks" value={busy + idle > 0 ? `${((idle / (busy + idle)) * 100).toFixed(1)}%` : '—'} id="idle" />
      </div>
      <div className="grid-2">
        <div className="card">
          <StackedBars title={`Core-hours per ${per}`} unit="core-hours" metric="coreHours" points={r.series} buckets={buckets} bucket={r.bucket} keys={keys} />
        </div>
        <div className="card">
          <StackedBars title={`GPU-hours per ${per}`} unit="GPU-hours" metric="gpuHours" points={r.series} buckets={buckets} bucket={r.bucket} keys={keys} />
        </div>
      </div>
      <div className="card">
        <h2>By {per}</h2>
        {r.rows.length === 0 ? (
          <p className="muted">No attempt ended in this window.</p>
        ) : (
          <table className="table responsive usage-table">
            <Headings names={[BY_LABEL[r.by], 'Core-hours', 'GPU-hours', 'CPU-hours', 'Wall-hours', 'Attempts', 'Tasks', 'Peak memory']} />
            <tbody>
              {r.rows.map((row) => (
                <FiguresRow
                  key={row.key}
                  id={row.key}
                  f={row}
                  name={
                    <>
                      <span className="legend" style={{ background: colorOf.get(row.key) ?? 'transparent' }} />{' '}
                      <Link to={`/tasks?${TASKS_OF[r.by]}=${row.key}`} title={row.name ? row.key : `${row.key} (deleted, or not yours)`}>
                        {label(row)}
                      </Link>
                    </>
                  }
                />
              ))}
              {r.others ? <FiguresRow id="others" f={r.others} name={<span className="muted">{r.others.attempts} attempts of others</span>} /> : null}
              <FiguresRow id="total" f={r.total} name={<strong>Total</strong>} />
            </tbody>
          </table>
        )}
      </div>
      <div className="card">
        <h2>Pilot blocks: idle waste</h2>
        <p className="muted small">Node-hours of each endpoint’s blocks inside the window: busy while a task ran on the block, idle otherwise.</p>
        {r.blocks.length === 0 ? <p className="muted">No pilot block held nodes in this window.</p> : <BlockWaste blocks={r.blocks} />}
      </div>
    </>
  );
}

function FiguresRow({ id, f, name }: { id: string; f: UsageFigures; name: ReactNode }) {
  return (
    <tr data-key={id}>
      <td data-label="Name">{name}</td>
      <td data-label="Core-hours">{hours(f.coreHours)}</td>
      <td data-label="GPU-hours">{hours(f.gpuHours)}</td>
      <td data-label="CPU-hours">{hours(f.cpuHours)}</td>
      <td data-label="Wall-hours">{hours(f.wallHours)}</td>
      <td data-label="Attempts">{f.attempts}</td>
      <td data-label="Tasks">{f.tasks}</td>
      <td data-label="Peak memory">{f.maxRssBytes === null ? '—' : bytes(f.maxRssBytes)}</td>
    </tr>
  );
}

function Stat({ label, value, id }: { label: string; value: string; id: string }) {
  return (
    <div className="stat card" data-stat={id}>
      <span className="stat-value">{value}</span>
      <span className="stat-label">{label}</span>
    </div>
  );
}
