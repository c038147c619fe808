import { useCallback, useEffect, useRef, useState, type ReactNode, type UIEvent } from 'react';
import type { FunctionInfo, TaskStatus, ThroughputBucket } from '@fx/protocol';

export function StatusBadge({ status }: { status: TaskStatus | 'online' | 'offline' | 'locked' }) {
  return (
    <span className={`badge badge-${status}`}>
      {status === 'waiting-for-endpoint'
        ? 'waiting'
        : status === 'waiting-for-dependencies'
          ? 'waiting for inputs'
          : status === 'waiting-for-retry'
            ? 'waiting to retry'
            : status}
    </span>
  );
}

export function ErrorNote({ error, onRetry }: { error: unknown; onRetry?: () => void }) {
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: string })?.code;
  return (
    <div className="error-note" role="alert">
      <strong>{code ? `${code}: ` : ''}</strong>
      {message}
      {onRetry && (
        <button type="button" className="link-button" onClick={onRetry}>
          Retry
        </button>
      )}
    </div>
  );
}

/** Under a list the console read only the head of: how many it shows, and that there are more. */
export function CutNote({ shown, what }: { shown: number; what: string }) {
  return (
    <p className="muted small" role="note" data-cut={what}>
      Showing the first {shown.toLocaleString('en-US')} {what}; there are more, which the console does not list.
    </p>
  );
}

export function Empty({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className="empty" role="status">
      <p className="empty-title">{title}</p>
      {children && <p className="muted">{children}</p>}
    </div>
  );
}

export function Loading({ what }: { what: string }) {
  return (
    <p className="muted" role="status" aria-live="polite">
      Loading {what}…
    </p>
  );
}

/** Re-renders every `ms`, for ages ("3 s ago") that must keep moving. */
export function useNow(ms = 1000): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(t);
  }, [ms]);
  return now;
}

/**
 * `f` at most once every `ms`: the first call arms a timer, later calls until it fires are absorbed,
 * and the timer runs the latest `f`. Cleared on unmount.
 */
export function useThrottled(f: () => void, ms: number): () => void {
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const latest = useRef(f);
  latest.current = f;
  useEffect(() => () => clearTimeout(timer.current ?? undefined), []);
  return useCallback(() => {
    if (timer.current) return;
    timer.current = setTimeout(() => {
      timer.current = null;
      latest.current();
    }, ms);
  }, [ms]);
}

/** Hands a blob to the browser to save as `name`. */
export function saveBlob(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export function age(iso: string | null, now: number): string {
  if (!iso) return 'never';
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

export const shortId = (id: string) => id.slice(0, 8);

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
/** A byte count for people: `512 B`, `1.5 KiB`. */
export function bytes(n: number): string {
  let i = 0;
  let v = n;
  while (v >= 1024 && i < UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${UNITS[i]}`;
}
const pad = (n: number, w = 2) => String(n).padStart(w, '0');
/** Every time the console shows carries its date: `2026-12-02 14:05:09`, local time, whatever the locale. */
export const time = (iso: string | null) => {
  if (!iso) return '—';
  const d = new Date(iso);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
};
/** A time as a `<time>` element: the dated local time, the exact instant in the tooltip. */
export function When({ iso }: { iso: string | null }) {
  if (!iso) return <>—</>;
  return (
    <time dateTime={iso} title={iso}>
      {time(iso)}
    </time>
  );
}

/** Completed and failed tasks per minute: stacked bars, with a readable summary for screen readers. */
export function ThroughputChart({ buckets }: { buckets: ThroughputBucket[] }) {
  const max = Math.max(1, ...buckets.map((b) => b.completed + b.failed));
  const w = 600;
  const h = 160;
  const bw = w / buckets.length;
  const total = buckets.reduce((n, b) => n + b.completed, 0);
  const failed = buckets.reduce((n, b) => n + b.failed, 0);
  return (
    <figure className="chart">
      <svg viewBox={`0 0 ${w} ${h}`} role="img" aria-label={`Last hour: ${total} tasks completed, ${failed} failed`} preserveAspectRatio="none">
        {[0.25, 0.5, 0.75, 1].map((f) => (
          <line key={f} x1={0} x2={w} y1={h - f * h} y2={h - f * h} className="chart-grid" />
        ))}
        {buckets.map((b, i) => {
          const ch = (b.completed / max) * h;
          const fh = (b.failed / max) * h;
          return (
            <g key={b.minute}>
              <title>{`${time(b.minute).slice(0, 16)}: ${b.completed} completed, ${b.failed} failed`}</title>
              <rect x={i * bw + 1} width={Math.max(1, bw - 2)} y={h - ch} height={ch} className="chart-ok" />
              <rect x={i * bw + 1} width={Math.max(1, bw - 2)} y={h - ch - fh} height={fh} className="chart-failed" />
            </g>
          );
        })}
      </svg>
      <div className="chart-axis muted small" aria-hidden="true">
        <span>60 min ago</span>
        <span>30 min ago</span>
        <span>now</span>
      </div>
      <figcaption>
        <span className="legend legend-ok" /> completed <span className="legend legend-failed" /> failed · peak {max} per minute
      </figcaption>
    </figure>
  );
}

/**
 * Renders only the rows in view (plus a few), so 10,000 rows cost what 30 do. Rows have a fixed
 * height; the list scrolls inside its own box and asks for more when near the end.
 */
export function VirtualList<T>({
  items,
  rowHeight,
  render,
  onNearEnd,
  label,
}: {
  items: T[];
  rowHeight: number;
  render: (item: T, index: number) => ReactNode;
  onNearEnd?: () => void;
  label: string;
}) {
  const ref = useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [height, setHeight] = useState(600);
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    const ro = new ResizeObserver(() => setHeight(el.clientHeight));
    ro.observe(el);
    setHeight(el.clientHeight);
    return () => ro.disconnect();
  }, []);
  const overscan = 8;
  const first = Math.max(0, Math.floor(scrollTop / rowHeight) - overscan);
  const last = Math.min(items.length, Math.ceil((scrollTop + height) / rowHeight) + overscan);
  const onScroll = (e: UIEvent<HTMLDivElement>) => {
    const el = e.currentTarget;
    setScrollTop(el.scrollTop);
    if (onNearEnd && el.scrollTop + el.clientHeight > el.scrollHeight - rowHeight * 20) onNearEnd();
  };
  useEffect(() => {
    // a short first page may not fill the box: ask for more right away
    if (onNearEnd && items.length * rowHeight < height) onNearEnd();
  }, [items.length, height, rowHeight, onNearEnd]);
  return (
    <div ref={ref} className="virtual" onScroll={onScroll} role="rowgroup" aria-label={label} tabIndex={0}>
      <div style={{ height: items.length * rowHeight, position: 'relative' }}>
        {items.slice(first, last).map((item, i) => (
          <div key={first + i} className="virtual-row" style={{ position: 'absolute', top: (first + i) * rowHeight, height: rowHeight, left: 0, right: 0 }}>
            {render(item, first + i)}
          </div>
        ))}
      </div>
    </div>
  );
}

/** A button that asks again before doing something that cannot be undone. */
export function ConfirmButton({ label, confirm, onConfirm, className }: { label: string; confirm: string; onConfirm: () => void; className?: string }) {
  const [asking, setAsking] = useState(false);
  if (!asking)
    return (
      <button type="button" className={className} onClick={() => setAsking(true)}>
        {label}
      </button>
    );
  return (
    <span className="confirm" role="group" aria-label={confirm}>
      <span className="muted">{confirm}</span>
      <button
        type="button"
        className="danger"
        autoFocus
        onClick={() => {
          setAsking(false);
          onConfirm();
        }}
      >
        Yes
      </button>
      <button type="button" onClick={() => setAsking(false)}>
        No
      </button>
    </span>
  );
}

const LANGUAGES: Record<string, string> = { js: 'JavaScript', python: 'Python', shell: 'Shell', mpi: 'Shell (MPI)' };

/** A function's source with its language (and a python function's entry point, a shell function's exit policy) above it. */
export function FunctionSource({ fn }: { fn: Pick<FunctionInfo, 'runtime' | 'source' | 'entrypoint' | 'failOnNonZeroExit'> }) {
  const language = LANGUAGES[fn.runtime] ?? fn.runtime;
  return (
    <>
      <div className="muted small">
        <span className="lang" data-language={fn.runtime}>
          {language}
        </span>
        {fn.entrypoint ? (
          <>
            {' '}
            · calls <span className="mono">{fn.entrypoint}()</span>
          </>
        ) : null}
        {fn.failOnNonZeroExit ? ' · a non-zero exit fails the task' : null}
      </div>
      <pre className="source" data-language={fn.runtime} aria-label={`${language} source`}>
        {fn.source}
      </pre>
    </>
  );
}
