import { TaskStatus, type TaskCounts, type TaskSummary } from '@fx/protocol';
import { Empty, shortId, StatusBadge, VirtualList, When } from '../../components';
import { Link } from '../../router';

const ROW = 44;
/** Header and class of each column (col-wide columns are hidden on narrow screens). */
const COLUMNS: ReadonlyArray<[string, string | undefined]> = [
  ['Task', undefined],
  ['State', undefined],
  ['Function', 'col-wide'],
  ['Endpoint', 'col-wide'],
  ['Received', 'col-wide'],
  ['Error', 'col-mid'],
];

/** One line over the table: how many tasks match (the server's counts, by state) and how many are loaded. */
export function TaskCountsLine({ counts, loading, loaded }: { counts: TaskCounts | null; loading: boolean; loaded: number }) {
  return (
    <p className="muted summary" aria-live="polite" data-testid="task-counts">
      {loading || !counts
        ? 'Loading tasks…'
        : `${counts.total.toLocaleString('en-US')}${counts.capped ? '+' : ''} tasks` +
          (counts.total
            ? ` · ${TaskStatus.options
                .filter((s) => counts.byStatus[s])
                .map((s) => `${counts.byStatus[s]!.toLocaleString('en-US')} ${s === 'waiting-for-endpoint' ? 'waiting' : s}`)
                .join(' · ')}`
            : '') +
          (loaded < counts.total ? ` · ${loaded.toLocaleString('en-US')} loaded` : '')}
    </p>
  );
}

/** The tasks as a virtual table, a row per task linking to its page; `onNearEnd` asks for the next page. */
export function TaskTable({
  rows,
  fnName,
  epName,
  onNearEnd,
}: {
  rows: TaskSummary[];
  fnName: ReadonlyMap<string, string>;
  epName: ReadonlyMap<string, string>;
  onNearEnd: (() => void) | undefined;
}) {
  return (
    <div className="task-table" role="table" aria-label="Tasks" aria-rowcount={rows.length}>
      <div className="task-row task-head" role="row">
        {COLUMNS.map(([name, className]) => (
          <span key={name} role="columnheader" className={className}>
            {name}
          </span>
        ))}
      </div>
      <VirtualList
        items={rows}
        rowHeight={ROW}
        label="Task rows"
        onNearEnd={onNearEnd}
        render={(t) => (
          <Link to={`/tasks/${t.id}`} className="task-row" role="row" data-task={t.id} data-status={t.status}>
            <span role="cell" className="mono">
              {shortId(t.id)}
            </span>
            <span role="cell">
              <StatusBadge status={t.status} />
            </span>
            <span role="cell" className="col-wide">
              {fnName.get(t.functionId) ?? shortId(t.functionId)}
            </span>
            <span role="cell" className="col-wide">
              {epName.get(t.endpointId) ?? shortId(t.endpointId)}
            </span>
            <span role="cell" className="col-wide">
              <When iso={t.receivedAt} />
            </span>
            <span role="cell" className="col-mid error-cell">
              {t.errorCode ?? ''}
            </span>
          </Link>
        )}
      />
    </div>
  );
}

/** What the list shows when no task matches: how to see more, or where tasks come from. */
export function NoTasks({ filtered }: { filtered: boolean }) {
  return (
    <Empty title="No tasks match">
      {filtered ? 'Clear the filters to see every task you may see.' : 'Submit tasks with the SDK; they appear here as they arrive.'}
    </Empty>
  );
}
