import { readFileSync, readdirSync } from 'node:fs';

const PAGE_BYTES = 4096;
/** How often a watched process tree's memory is measured. */
export const MEMORY_POLL_MS = 150;

/** Resident memory of a process and all its descendants, from /proc (0 where /proc cannot say). */
export function treeRssBytes(rootPid: number): number {
  let total = 0;
  const seen = new Set<number>();
  const stack = [rootPid];
  while (stack.length > 0) {
    const pid = stack.pop() as number;
    if (seen.has(pid)) continue;
    seen.add(pid);
    try {
      const statm = readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ');
      total += Number(statm[1] ?? 0) * PAGE_BYTES;
    } catch {
      continue; // gone already
    }
    for (const child of childrenOf(pid)) stack.push(child);
  }
  return total;
}

function childrenOf(pid: number): number[] {
  const out: number[] = [];
  let threads: string[];
  try {
    threads = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
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

/**
 * Polls a process tree's resident memory and calls `onExceeded` once when it passes `limitBytes`.
 * Returns a function that stops watching.
 */
export function watchMemory(pid: number, limitBytes: number, onExceeded: (bytes: number) => void): () => void {
  let done = false;
  const timer = setInterval(() => {
    if (done) return;
    const bytes = treeRssBytes(pid);
    if (bytes > limitBytes) {
      done = true;
      clearInterval(timer);
      onExceeded(bytes);
    }
  }, MEMORY_POLL_MS);
  timer.unref();
  return () => {
    done = true;
    clearInterval(timer);
  };
}
