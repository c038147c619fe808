import { useCallback, useEffect, useRef, useState, type DependencyList, type Dispatch, type ReactNode, type SetStateAction } from 'react';
import { ErrorNote, Loading } from './components';

/** What a page fetched, and how to fetch it again. */
export interface PageData<T> {
  /** null until the first answer. */
  data: T | null;
  /** For changes the page makes itself (a toggled switch, a live event) without fetching again. */
  setData: Dispatch<SetStateAction<T | null>>;
  /** The last fetch's error; cleared by the next answer. */
  error: unknown;
  /** Fetches again; what was shown stays until the answer replaces it. */
  reload: () => void;
}

/**
 * Fetches a page's data on mount and whenever `deps` change (`fetch` is read with them). An error
 * keeps the data already shown, so a failed refresh does not blank the page.
 */
export function usePageData<T>(fetch: () => Promise<T>, deps: DependencyList): PageData<T> {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<unknown>(null);
  // only the latest fetch's answer is shown: an earlier one arriving late (filters changed quickly) is dropped
  const latest = useRef(0);
  const reload = useCallback(() => {
    const n = ++latest.current;
    fetch().then(
      (d) => {
        if (n !== latest.current) return;
        setData(d);
        setError(null);
      },
      (e: unknown) => n === latest.current && setError(e),
    );
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, deps);
  useEffect(reload, [reload]);
  return { data, setData, error, reload };
}

/** An action a page offers (a delete, a toggle, a download) and how the last run of it went. */
export interface Action {
  /** The last run's error; cleared when the next starts. */
  error: unknown;
  pending: boolean;
  /** Runs `f`, then `after` (a reload, say) if it succeeded; never rejects, the error is kept instead. */
  run: (f: () => Promise<unknown>) => Promise<void>;
}

export function useAction(after?: () => void): Action {
  const [state, setState] = useState<{ error: unknown; pending: boolean }>({ error: null, pending: false });
  const run = async (f: () => Promise<unknown>) => {
    setState({ error: null, pending: true });
    try {
      await f();
      setState({ error: null, pending: false });
      after?.();
    } catch (e) {
      setState({ error: e, pending: false });
    }
  };
  return { ...state, run };
}

interface FrameProps {
  /** Names the heading (`<id>-title`), which labels the section. */
  id: string;
  title: ReactNode;
  className?: string;
  headingClassName?: string;
  /** Shown above the heading (a link back, say). */
  lead?: ReactNode;
}

/** A console page: a section labelled by its h1. */
export function PageFrame({ id, title, className, headingClassName, lead, children }: FrameProps & { children?: ReactNode }) {
  return (
    <section aria-labelledby={`${id}-title`} className={className}>
      {lead}
      <h1 id={`${id}-title`} className={headingClassName}>
        {title}
      </h1>
      {children}
    </section>
  );
}

/**
 * A page of fetched data: the error with Retry while nothing has loaded, "Loading <what>…" until
 * the data is there, then the frame around `children(data)`. `title` may be made from the data.
 */
export function Page<T>({
  state,
  what,
  title,
  children,
  ...frame
}: Omit<FrameProps, 'title'> & { state: PageData<T>; what: string; title: ReactNode | ((data: T) => ReactNode); children: (data: T) => ReactNode }) {
  const { data, error, reload } = state;
  if (error && data === null) return <ErrorNote error={error} onRetry={reload} />;
  if (data === null) return <Loading what={what} />;
  return (
    <PageFrame {...frame} title={typeof title === 'function' ? title(data) : title}>
      {children(data)}
    </PageFrame>
  );
}
