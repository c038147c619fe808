import { useEffect, useState } from 'react';
import { isFinalStatus, type FunctionInfo, type TaskInfo } from '@fx/protocol';
import { useLiveEvents, useSession } from '../app-context';
import { ErrorNote, FunctionSource, StatusBadge, When } from '../components';
import { Page, useAction, usePageData } from '../page';
import { Link } from '../router';
import { TaskAttempts } from './TaskAttempts';
import { TaskLive } from './TaskLive';

const STEPS: Array<[keyof TaskInfo['timeline'], string]> = [
  ['receivedAt', 'Received'],
  ['waitingAt', 'Waiting for endpoint'],
  ['retryAt', 'Next attempt due'],
  ['dispatchedAt', 'Dispatched'],
  ['runningAt', 'Running'],
  ['completedAt', 'Completed'],
];

const json = (v: unknown) => JSON.stringify(v, null, 2);

export function TaskPage({ id }: { id: string }) {
  const { api } = useSession();
  const state = usePageData(() => api.task(id), [api, id]);
  const { data: task, reload: load } = state;
  const cancelling = useAction(load);
  // names, not ids: fetched once per task page; a function or endpoint that is gone (or not yours to
  // read) keeps its id, marked as such
  const [names, setNames] = useState<{ fn?: string | null; ep?: string | null }>({});
  const [fn, setFn] = useState<FunctionInfo | null>(null);
  const functionId = task?.functionId;
  const endpointId = task?.endpointId;
  useEffect(() => {
    if (!functionId) return;
    api.function(functionId).then(
      (f) => {
        setNames((n) => ({ ...n, fn: f.name }));
        setFn(f);
      },
      () => setNames((n) => ({ ...n, fn: null })),
    );
  }, [api, functionId]);
  useEffect(() => {
    if (!endpointId) return;
    api.endpoint(endpointId).then(
      (e) => setNames((n) => ({ ...n, ep: e.name })),
      () => setNames((n) => ({ ...n, ep: null })),
    );
  }, [api, endpointId]);
  useLiveEvents((e) => {
    if (e.overflow || e.tasks.some((t) => t.id === id)) load();
  });

  return (
    <Page
      id="task"
      title={(t) => (
        <>
          Task <span className="mono">{t.id}</span> <StatusBadge status={t.status} />
        </>
      )}
      headingClassName="task-title"
      lead={
        <p>
          <Link to="/tasks">← Tasks</Link>
        </p>
      }
      what="the task"
      state={state}
    >
      {(task) => {
        const t0 = Date.parse(task.timeline.receivedAt);
        return (
          <>
            <dl className="facts">
              <dt>Function</dt>
              <dd data-testid="task-function">
                <Named name={names.fn} id={task.functionId} to={`/tasks?functionId=${task.functionId}`} />
                {fn ? <FunctionSource fn={fn} /> : null}
              </dd>
              <dt>Endpoint</dt>
              <dd data-testid="task-endpoint">
                <Named name={names.ep} id={task.endpointId} to={`/tasks?endpointId=${task.endpointId}`} />
              </dd>
              <dt>Attempt</dt>
              {/* numbered as the API, SDK and CLI number it: 0 is the first try, each requeue (lost lease, retry) adds one */}
              <dd data-testid="task-attempt">
                {task.attempt}{' '}
                <span className="muted small">{task.attempt === 0 ? '(first try)' : `(requeued ${task.attempt} time${task.attempt === 1 ? '' : 's'})`}</span>
              </dd>
              <dt>Priority</dt>
              {/* 0–9: higher goes first in the endpoint's queue */}
              <dd data-testid="task-priority">
                {task.priority} {task.priority === 5 ? <span className="muted small">(default)</span> : null}
              </dd>
              {task.batchId && (
                <>
                  <dt>Group</dt>
                  <dd className="mono">
                    {/* the task list filtered to its group: the batch, graph or map it came in */}
                    <Link to={`/tasks?batchId=${task.batchId}`}>{task.batchId}</Link>
                  </dd>
                </>
              )}
              <dt>Received</dt>
              <dd>
                <When iso={task.timeline.receivedAt} />
              </dd>
            </dl>
            {!isFinalStatus(task.status) && (
              <p>
                <button type="button" className="danger" onClick={() => cancelling.run(() => api.cancelTask(task.id))}>
                  Cancel task
                </button>
              </p>
            )}
            {cancelling.error ? <ErrorNote error={cancelling.error} /> : null}
            <div className="card">
              <h2>Timeline</h2>
              <ol className="timeline">
                {STEPS.filter(([key]) => key !== 'retryAt' || task.timeline.retryAt).map(([key, label]) => {
                  const at = task.timeline[key];
                  return (
                    <li key={key} className={at ? 'done' : 'pending'}>
                      <span className="timeline-label">{key === 'completedAt' && at ? task.status : label}</span>
                      <span className="timeline-time">
                        <When iso={at} />
                      </span>
                      {at && key !== 'receivedAt' && <span className="muted small">+{((Date.parse(at) - t0) / 1000).toFixed(3)} s</span>}
                    </li>
                  );
                })}
              </ol>
            </div>
            <TaskAttempts task={task} />
            <div className="grid-2">
              <div className="card">
                <h2>Arguments</h2>
                <pre className="code" aria-label="Arguments">
                  {json(task.args)}
                </pre>
                {Object.keys(task.kwargs).length > 0 && (
                  <pre className="code" aria-label="Keyword arguments">
                    {json(task.kwargs)}
                  </pre>
                )}
              </div>
              <div className="card">
                {task.status === 'success' ? (
                  <>
                    <h2>Result</h2>
                    <pre className="code" aria-label="Result">
                      {json(task.result)}
                    </pre>
                  </>
                ) : task.error ? (
                  <>
                    <h2>{task.status === 'cancelled' ? 'Cancelled' : 'Remote error'}</h2>
                    <p>
                      <strong>{task.error.code}</strong> · {task.error.name}: {task.error.message}
                    </p>
                    {task.error.stack ? (
                      <pre className="code stack" aria-label="Remote stack">
                        {task.error.stack}
                      </pre>
                    ) : (
                      <p className="muted">No stack was sent with this error.</p>
                    )}
                  </>
                ) : (
                  <>
                    <h2>Result</h2>
                    <p className="muted">Not finished yet; this page updates by itself.</p>
                  </>
                )}
              </div>
            </div>
            <TaskLive api={api} id={task.id} />
            {task.output ? (
              <div className="card">
                <h2>Output{task.output.truncated ? <span className="muted small"> (its last lines)</span> : null}</h2>
                {(['stdout', 'stderr'] as const).map((stream) =>
                  task.output?.[stream] ? (
                    <pre key={stream} className={stream === 'stderr' ? 'code stack' : 'code'} aria-label={`Task ${stream}`}>
                      {task.output[stream]}
                    </pre>
                  ) : null,
                )}
              </div>
            ) : null}
          </>
        );
      }}
    </Page>
  );
}

/** A function's or endpoint's name with its id beside it; the id alone while loading or when unreadable. */
function Named({ name, id, to }: { name: string | null | undefined; id: string; to: string }) {
  return (
    <>
      <Link to={to}>{name ?? <span className="mono">{id}</span>}</Link>
      {name ? <div className="muted mono small">{id}</div> : name === null ? <span className="muted small"> (deleted, or not yours to read)</span> : null}
    </>
  );
}
