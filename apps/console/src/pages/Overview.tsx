import { useEffect, useRef } from 'react';
import { useLiveEvents, useSession } from '../app-context';
import { ErrorNote, StatusBadge, ThroughputChart, When } from '../components';
import { Page, usePageData } from '../page';
import { Link } from '../router';

export function Overview() {
  const { api } = useSession();
  const state = usePageData(() => Promise.all([api.overview(), api.endpoints()]), [api]);
  const { error, reload: load } = state;
  // refreshed by what happens, at most every 2 s: live, not polled
  const pending = useRef<ReturnType<typeof setTimeout> | null>(null);
  useLiveEvents(() => {
    if (pending.current) return;
    pending.current = setTimeout(() => {
      pending.current = null;
      load();
    }, 2000);
  });
  useEffect(() => () => clearTimeout(pending.current ?? undefined), []);

  return (
    <Page id="overview" title="Overview" what="the overview" state={state}>
      {([data, endpoints]) => {
        const last = data.throughput.slice(-5);
        const perSecond = last.reduce((n, b) => n + b.completed + b.failed, 0) / (last.length * 60);
        const failedHour = data.throughput.reduce((n, b) => n + b.failed, 0);
        const doneHour = data.throughput.reduce((n, b) => n + b.completed, 0);
        return (
          <>
            {error ? <ErrorNote error={error} onRetry={load} /> : null}
            <div className="stats">
              <Stat label="Endpoints online" value={data.endpoints.online} to="/endpoints" tone={data.endpoints.online ? 'ok' : undefined} />
              <Stat label="Endpoints offline" value={data.endpoints.offline} to="/endpoints" tone={data.endpoints.offline ? 'warn' : undefined} />
              <Stat label="Queue (waiting)" value={data.queue.waiting} to="/tasks?status=waiting-for-endpoint" />
              <Stat label="Running / dispatched" value={`${data.queue.running} / ${data.queue.dispatched}`} to="/tasks?status=running,dispatched" />
              <Stat label="Tasks per second (5 min)" value={perSecond.toFixed(perSecond < 10 ? 2 : 0)} />
              <Stat label="Failed in the last hour" value={failedHour} to="/tasks?status=failed" tone={failedHour ? 'bad' : undefined} />
            </div>
            <div className="card">
              <h2>Endpoints</h2>
              {endpoints.length === 0 ? (
                <p className="muted">No endpoints yet. Register one with fx-endpoint configure.</p>
              ) : (
                <ul className="endpoint-list" aria-label="Endpoints and their state">
                  {endpoints.map((e) => (
                    <li key={e.id} data-endpoint={e.name} data-state={e.state}>
                      <Link to={`/tasks?endpointId=${e.id}`}>{e.name}</Link> <StatusBadge status={e.state} /> {e.lockedAt && <StatusBadge status="locked" />}{' '}
                      <span className="muted small">
                        {e.tasks.waiting} waiting · {e.tasks.dispatched + e.tasks.running} held · last heartbeat{' '}
                        {e.lastHeartbeatAt ? <When iso={e.lastHeartbeatAt} /> : 'never'}
                      </span>
                    </li>
                  ))}
                </ul>
              )}
            </div>
            <div className="card">
              <h2>Tasks per minute, last hour</h2>
              {doneHour + failedHour === 0 ? <p className="muted">No task finished in the last hour.</p> : null}
              <ThroughputChart buckets={data.throughput} />
            </div>
          </>
        );
      }}
    </Page>
  );
}

function Stat({ label, value, to, tone }: { label: string; value: number | string; to?: string; tone?: 'ok' | 'warn' | 'bad' }) {
  const body = (
    <>
      <span className="stat-value">{value}</span>
      <span className="stat-label">{label}</span>
    </>
  );
  return to ? (
    <Link to={to} className={`stat card ${tone ? `stat-${tone}` : ''}`}>
      {body}
    </Link>
  ) : (
    <div className={`stat card ${tone ? `stat-${tone}` : ''}`}>{body}</div>
  );
}
