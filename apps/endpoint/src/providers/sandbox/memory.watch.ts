import { readFileSync, readdirSync } from 'node:fs';

const PAGE_BYTES = 4096;
/** How often a watched process tree's memory is measured, at the most. */
export const MEMORY_POLL_MS = 150;
/**
 * A measurement runs on the agent's event loop, and a task decides how long it takes (its threads and
 * processes): the next one waits at least this many times as long as the last took, so a task with
 * 20,000 threads (224 ms a walk) holds the agent's loop a tenth of the time, not all of it.
 */
export const MEMORY_POLL_DUTY = 10;
/**
 * Past this many threads, a process's children are found from every process's parent (one read of each
 * /proc/<pid>/stat, shared by every watch for half an interval) instead of each thread's `children`
 * list (one read per thread): far more threads than a JVM or an OpenBLAS task on a large node holds,
 * for which the host's every process would cost more than their threads.
 */
export const THREADS_LISTED = 1024;

/** The pid and every descendant of it, from /proc (what /proc cannot say is left out). */
export function processTree(rootPid: number, threadsListed = THREADS_LISTED): number[] {
  const seen = new Set<number>();
  const stack = [rootPid];
  while (stack.length > 0) {
    const pid = stack.pop() as number;
    if (seen.has(pid)) continue;
    seen.add(pid);
    for (const child of childrenOf(pid, threadsListed)) stack.push(child);
  }
  return [...seen];
}

/** Resident memory of a process and all its descendants, from /proc (0 where /proc cannot say). */
export function treeRssBytes(rootPid: number): number {
  let total = 0;
  for (const pid of processTree(rootPid)) {
    try {
      const statm = readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ');
      total += Number(statm[1] ?? 0) * PAGE_BYTES;
    } catch {
      // gone already
    }
  }
  return total;
}

function childrenOf(pid: number, threadsListed: number): number[] {
  const out: number[] = [];
  let threads: string[];
  try {
    threads = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  if (threads.length > threadsListed) return parentMap().get(pid) ?? [];
  for (const tid of threads) {
    try {
      const text = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
      if (text !== '') for (const c of text.split(/\s+/)) out.push(Number(c));
    } catch {
      // the thread ended
    }
  }
  return out;
}

let parents: { at: number; map: Map<number, number[]> } | undefined;

/**
 * Every live process's children, by parent pid (field 4 of /proc/<pid>/stat, after the command's `)`),
 * read again when the last reading is half an interval old: every watch of a tick shares one.
 */
function parentMap(): Map<number, number[]> {
  const now = performance.now();
  if (parents && now - parents.at < MEMORY_POLL_MS / 2) return parents.map;
  const map = new Map<number, number[]>();
  parents = { at: now, map };
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = map.get(ppid);
      if (list) list.push(pid);
      else map.set(ppid, [pid]);
    } catch {
      // gone already
    }
  }
  return map;
}

/**
 * Polls a process tree's resident memory and calls `onExceeded` once when it passes `limitBytes`.
 * Returns a function that stops watching.
 */
export function watchMemory(pid: number, limitBytes: number, onExceeded: (bytes: number) => void): () => void {
  let done = false;
  let timer: NodeJS.Timeout;
  const poll = () => {
    if (done) return;
    const started = performance.now();
    const bytes = treeRssBytes(pid);
    if (bytes > limitBytes) {
      done = true;
      onExceeded(bytes);
      return;
    }
    timer = setTimeout(poll, nextPollDelay(performance.now() - started));
    timer.unref();
  };
  timer = setTimeout(poll, MEMORY_POLL_MS);
  timer.unref();
  return () => {
    done = true;
    clearTimeout(timer);
  };
}

/** How long to wait before the next measurement, after one that took `lastMs`. */
export function nextPollDelay(lastMs: number): number {
  return Math.max(MEMORY_POLL_MS, Math.ceil(lastMs * MEMORY_POLL_DUTY));
}
