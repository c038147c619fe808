import type { TaskAttempt, TaskInfo } from '@fx/protocol';
import { StatusBadge, When } from '../components';

/** How an attempt ended, in words: retried and lost attempts did not end their task. */
function outcome(a: TaskAttempt) {
  if (a.status === 'retried') return <span className="badge badge-failed">failed, retried</span>;
  if (a.status === 'lost') return <span className="badge badge-waiting-for-endpoint">{a.speculative ? 'lease lost' : 'lease lost, requeued'}</span>;
  if (a.status === 'superseded') return <span className="badge badge-cancelled">superseded by its copy, cancelled</span>;
  return <StatusBadge status={a.status} />;
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

/** Every attempt of a task (invariant 12), speculative copies too: where it ran, its own timeline, and its error. */
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
      <table className="table responsive" aria-label="Attempts">
        <thead>
          <tr>
            <th scope="col">#</th>
            <th scope="col">Outcome</th>
            <th scope="col">Ran on</th>
            <th scope="col">Queued</th>
            <th scope="col">Started</th>
            <th scope="col">Ended</th>
            <th scope="col">Error</th>
          </tr>
        </thead>
        <tbody>
          {task.attempts.map((a) => (
            <tr key={`${a.number}${a.speculative ? '-copy' : ''}`} data-attempt={a.number} data-status={a.status} data-speculative={a.speculative}>
              <td data-label="#">{label(a)}</td>
              <td data-label="Outcome">{outcome(a)}</td>
              <td data-label="Ran on" className="mono small">
                {[a.blockId && `block ${a.blockId}`, a.workerId && `worker ${a.workerId}`, a.connectionId && `connection ${a.connectionId}`]
                  .filter(Boolean)
                  .join(' · ') || '-'}
              </td>
              <td data-label="Queued">
                <When iso={a.queuedAt} />
              </td>
              <td data-label="Started">
                <When iso={a.startedAt} />
              </td>
              <td data-label="Ended">
                <When iso={a.endedAt} />
                {a.retryAt ? (
                  <div className="muted small">
                    next attempt at <When iso={a.retryAt} />
                  </div>
                ) : null}
              </td>
              <td data-label="Error">{a.error ? `${a.error.code}: ${a.error.message}` : '-'}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
