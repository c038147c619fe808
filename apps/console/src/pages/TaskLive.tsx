import { useEffect, useLayoutEffect, useRef, useState } from 'react';
import type { LogChunk, ProgressEvent, TaskLogsResponse, TaskProgressResponse } from '@fx/protocol';
import type { Api } from '../api';
import { ErrorNote, When } from '../components';

/**
 * How often a running task's progress and logs are read again. The console's socket carries coalesced
 * fabric events, not a task's stream, and a browser cannot put the token on the client channel's
 * upgrade; the page is open for one task at a time, so a REST read a second is cheap and bounded.
 */
const POLL_MS = 1_000;
/** Log chunks per read; a full page is followed at once by the next. */
const LOGS_PAGE = 1_000;
/** Chunks the page keeps (the latest): a task that prints for hours must not grow the tab without bound. */
const MAX_SHOWN_CHUNKS = 5_000;

interface Live {
  progress: TaskProgressResponse | null;
  chunks: LogChunk[];
  /** Chunks dropped from the front to stay under MAX_SHOWN_CHUNKS. */
  dropped: number;
  truncated: boolean;
  /** Nothing more will come: the task is final and everything was read. */
  ended: boolean;
  error: unknown;
}

/** A task's progress and logs, read while it runs and once more when it ends. */
export function useTaskLive(api: Api, id: string): Live {
  const [live, setLive] = useState<Live>({ progress: null, chunks: [], dropped: 0, truncated: false, ended: false, error: null });
  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let after = 0;
    setLive({ progress: null, chunks: [], dropped: 0, truncated: false, ended: false, error: null });
    const read = async () => {
      try {
        const [progress, logs]: [TaskProgressResponse, TaskLogsResponse] = await Promise.all([api.taskProgress(id), api.taskLogs(id, after, LOGS_PAGE)]);
        if (stopped) return;
        after = Math.max(after, logs.nextSeq);
        const ended = progress.final && logs.final;
        setLive((l) => {
          const all = l.chunks.concat(logs.items);
          const drop = Math.max(0, all.length - MAX_SHOWN_CHUNKS);
          return { progress, chunks: drop ? all.slice(drop) : all, dropped: l.dropped + drop, truncated: logs.truncated, ended, error: null };
        });
        if (!ended) timer = setTimeout(read, logs.items.length >= LOGS_PAGE ? 0 : POLL_MS);
      } catch (error) {
        if (stopped) return;
        setLive((l) => ({ ...l, error }));
        timer = setTimeout(read, POLL_MS * 5);
      }
    };
    void read();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [api, id]);
  return live;
}

const compact = (v: unknown) => JSON.stringify(v) ?? 'null';
const at = (ms: number) => new Date(ms).toISOString();

/**
 * The task's latest progress value with the kept ones before it, and what it printed, followed as it
 * runs; on request, the endpoint agent's own lines about it (received, started on which worker,
 * finished…) interleaved in the order they came.
 */
export function TaskLive({ api, id }: { api: Api; id: string }) {
  const live = useTaskLive(api, id);
  const [agentLines, setAgentLines] = useState(false);
  const items = live.progress?.items ?? [];
  const latest: ProgressEvent | undefined = items.at(-1);
  if (!live.error && (live.progress === null || (items.length === 0 && live.chunks.length === 0 && live.ended))) return null;
  return (
    <div className="card" data-testid="task-live" data-ended={live.ended ? 'true' : 'false'}>
      <h2>Live{!live.ended ? <span className="muted small"> (following the running task)</span> : null}</h2>
      {live.error ? <ErrorNote error={live.error} /> : null}
      {latest ? (
        <>
          <h3>Progress</h3>
          <p className="small">
            <span data-testid="progress-seq">#{latest.seq}</span>
            {latest.attempt > 0 ? ` (attempt ${latest.attempt})` : ''} of {live.progress?.emitted} emitted · <When iso={at(latest.at)} />
          </p>
          <pre className="code" aria-label="Latest progress">
            {JSON.stringify(latest.value, null, 2)}
          </pre>
          {items.length > 0 ? (
            <details>
              <summary className="small">{items.length === 1 ? 'The one value kept' : `The ${items.length} latest values`}</summary>
              <ol className="progress-history" aria-label="Progress history">
                {items
                  .slice()
                  .reverse()
                  .map((e) => (
                    <li key={`${e.attempt}-${e.seq}`} className="mono small">
                      #{e.seq} {compact(e.value)}
                      {e.coalesced ? <span className="muted"> (+{e.coalesced} coalesced)</span> : null}
                    </li>
                  ))}
              </ol>
            </details>
          ) : null}
        </>
      ) : !live.ended ? (
        <p className="muted small">No progress emitted yet.</p>
      ) : null}
      <h3>Logs</h3>
      <label className="switch small">
        <input
          type="checkbox"
          role="switch"
          checked={agentLines}
          onChange={(e) => setAgentLines(e.currentTarget.checked)}
          aria-label="Show the agent's lines"
        />
        <span>the endpoint agent's lines about the task</span>
      </label>
      <LogView chunks={agentLines ? live.chunks : live.chunks.filter((c) => c.stream !== 'agent')} dropped={live.dropped} truncated={live.truncated} />
    </div>
  );
}

/** stdout and stderr in the order printed (stderr marked), and the agent's lines when shown (marked); kept scrolled to the end while the reader is there. */
function LogView({ chunks, dropped, truncated }: { chunks: LogChunk[]; dropped: number; truncated: boolean }) {
  const ref = useRef<HTMLPreElement>(null);
  const atEnd = useRef(true);
  useLayoutEffect(() => {
    const el = ref.current;
    if (el && atEnd.current) el.scrollTop = el.scrollHeight;
  }, [chunks]);
  if (chunks.length === 0) return <p className="muted small">Nothing printed{truncated ? '' : ' yet'}.</p>;
  return (
    <>
      {dropped > 0 || truncated ? (
        <p className="muted small">
          {dropped > 0 ? `The first ${dropped} chunks are not shown here. ` : ''}
          {truncated ? 'The task printed more than is kept; later text was dropped.' : ''}
        </p>
      ) : null}
      <pre
        ref={ref}
        className="code log-view"
        aria-label="Task logs"
        onScroll={(e) => {
          const el = e.currentTarget;
          atEnd.current = el.scrollHeight - el.scrollTop - el.clientHeight < 8;
        }}
      >
        {chunks.map((c) => (
          <span
            key={`${c.attempt}-${c.seq}`}
            className={c.stream === 'stderr' ? 'stack' : c.stream === 'agent' ? 'agent-line' : undefined}
            data-stream={c.stream}
          >
            {c.text}
          </span>
        ))}
      </pre>
    </>
  );
}
