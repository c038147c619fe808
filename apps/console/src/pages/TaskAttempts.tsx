import type { AttemptUsage, TaskAttempt, TaskInfo } from '@fx/protocol';
import { StatusBadge, When } from '../components';
import { Table, type Column } from '../table';

/** How an attempt ended, in words: retried and lost attempts did not end their task. */
function outcome(a: TaskAttempt) {
  if (a.status === 'retried') return <span className="badge badge-failed">failed, retried</span>;
  if (a.status === 'lost') return <span className="badge badge-waiting-for-endpoint">{a.speculative ? 'lease lost' : 'lease lost, requeued'}</span>;
  if (a.status === 'superseded') return <span className="badge badge-cancelled">superseded by its copy, cancelled</span>;
  return <StatusBadge status={a.status} />;
}

/** A task's time for people: `12 ms`, `1.25 s`, `2.1 min`, `1.5 h`. */
function took(ms: number) {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(2)} s`;
  if (ms < 3_600_000) return `${(ms / 60_000).toFixed(1)} min`;
  return `${(ms / 3_600_000).toFixed(1)} h`;
}

function bytes(n: number) {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  for (; v >= 1024 && u < units.length - 1; u++) v /= 1024;
  return u === 0 ? `${n} B` : `${v >= 100 ? Math.round(v) : v.toFixed(1)} ${units[u]}`;
}

/** What an attempt held and used, as its agent measured it; CPU time and memory only where measurable. */
function Usage({ u }: { u: AttemptUsage | null }) {
  if (!u) return <>-</>;
  const parts: Array<[string, string]> = [
    ['wall', took(u.wallMs)],
    ['cores', String(u.cores)],
    ['GPUs', String(u.gpus)],
    ['CPU', u.cpuMs === null ? 'not measured' : took(u.cpuMs)],
    ['peak memory', u.maxRssBytes === null ? 'not measured' : bytes(u.maxRssBytes)],
  ];
  return (
    <dl className="usage small" data-testid="attempt-usage">
      {parts.map(([k, v]) => (
        <div key={k}>
          <dt>{k}</dt>
          <dd>{v}</dd>
        </div>
      ))}
    </dl>
  );
}

/** An attempt's number; a speculative copy shares it with the attempt it ran alongside. */
function label(a: TaskAttempt) {
  return a.speculative ? (
    <>
      {a.number} <span className="muted small">copy</span>
    </>
  ) : (
    a.number
  );
}

const COLUMNS: Array<Column<TaskAttempt>> = [
  { label: '#', cell: label },
  { label: 'Outcome', cell: outcome },
  {
    label: 'Ran on',
    className: 'mono small',
    cell: (a) =>
      [a.blockId && `block ${a.blockId}`, a.workerId && `worker ${a.workerId}`, a.connectionId && `connection ${a.connectionId}`].filter(Boolean).join(' · ') ||
      '-',
  },
  { label: 'Queued', cell: (a) => <When iso={a.queuedAt} /> },
  { label: 'Started', cell: (a) => <When iso={a.startedAt} /> },
  {
    label: 'Ended',
    cell: (a) => (
      <>
        <When iso={a.endedAt} />
        {a.retryAt ? (
          <div className="muted small">
            next attempt at <When iso={a.retryAt} />
          </div>
        ) : null}
      </>
    ),
  },
  { label: 'Used', cell: (a) => <Usage u={a.usage} /> },
  { label: 'Error', cell: (a) => (a.error ? `${a.error.code}: ${a.error.message}` : '-') },
];

/** Every attempt of a task (invariant 12), speculative copies too: where it ran, its own timeline, what it used, and its error. */
export function TaskAttempts({ task }: { task: TaskInfo }) {
  if (task.attempts.length === 0) return null;
  return (
    <div className="card">
      <h2>
        Attempts
        {task.retry ? (
          <span className="muted small">
            {' '}
            · retried up to {task.retry.maxAttempts} attempts, {task.retry.backoffSeconds} s apart, on {task.retry.on.join(', ')}
          </span>
        ) : null}
      </h2>
      <Table
        rows={task.attempts}
        columns={COLUMNS}
        label="Attempts"
        rowKey={(a) => `${a.number}${a.speculative ? '-copy' : ''}`}
        rowAttributes={(a) => ({ 'data-attempt': a.number, 'data-status': a.status, 'data-speculative': a.speculative })}
      />
    </div>
  );
}
