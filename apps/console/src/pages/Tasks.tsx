import { ErrorNote } from '../components';
import { PageFrame } from '../page';
import { TaskFilterForm } from './task-list/TaskFilterForm';
import { NoTasks, TaskCountsLine, TaskTable } from './task-list/TaskTable';
import { useTaskFilters, useTaskList, useTaskLookups } from './task-list/useTaskList';

/**
 * Every task you may see, filtered by the query string, newest first and live. Unlike the other
 * pages it never waits behind a loading screen: the filters stay usable while the list loads or fails.
 */
export function Tasks() {
  const { filters, filterKey } = useTaskFilters();
  // the option lists first: their requests go out before the first page's, as they always have
  const lookups = useTaskLookups();
  const { rows, cursor, counts, loading, error, load, loadMore } = useTaskList(filters, filterKey);

  return (
    <PageFrame id="tasks" title="Tasks" className="tasks-page">
      <TaskFilterForm filters={filters} filterKey={filterKey} lookups={lookups} />
      {error ? <ErrorNote error={error} onRetry={load} /> : null}
      <TaskCountsLine counts={counts} loading={loading} loaded={rows.length} />
      {!loading && rows.length === 0 && !error ? (
        <NoTasks filtered={Object.keys(filters).length > 0} />
      ) : (
        <TaskTable rows={rows} fnName={lookups.fnName} epName={lookups.epName} onNearEnd={cursor ? loadMore : undefined} />
      )}
    </PageFrame>
  );
}
