import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

/**
 * What a worker measured of one call (AttemptUsage in libs/protocol/src/usage.ts, before the agent adds
 * the cores and GPUs the call held): wall time from the call's start to its end, and where the runtime
 * can, the CPU time it used and the peak resident memory of the worker while it ran.
 */
export interface MeasuredUsage {
  wallMs: number;
  /** User + system CPU time of the worker process during the call; null where not measurable. */
  cpuMs: number | null;
  /** Peak resident memory of the worker process during the call (bytes); null where not measurable. */
  maxRssBytes: number | null;
}

/** The field of /proc/<pid>/status that holds the peak resident set ("high water mark"). */
const HIGH_WATER = /VmHWM:\s+(\d+) kB/;

/**
 * Measures the calls of one worker process, which runs one task at a time: `process.cpuUsage()` around
 * the call for CPU time (every thread of the process: the task's code, its GC, libuv's pool), and for
 * peak memory the kernel's high-water mark of resident memory, reset at the start of each call (writing
 * "5" to /proc/self/clear_refs, Linux 4.0+) and read at its end from /proc/self/status, so that it is
 * this call's peak, not the worker's lifetime one. Both files stay open: a call costs two small
 * syscalls (about 5 µs). Where /proc cannot be used, the peak falls back to `resourceUsage().maxRSS`,
 * the process's lifetime peak: an upper bound of the call's (see docs/observability.md).
 */
export class UsageMeter {
  private readonly clearRefs: number | undefined;
  private readonly status: number | undefined;
  private readonly buffer = Buffer.alloc(4096);

  constructor() {
    this.clearRefs = tryOpen('/proc/self/clear_refs', 'w');
    this.status = this.clearRefs === undefined ? undefined : tryOpen('/proc/self/status', 'r');
  }

  /** Whether the peak is this call's own (reset per call), not the process's lifetime peak. */
  get perCallPeak(): boolean {
    return this.status !== undefined;
  }

  /** Starts measuring a call; the function it returns ends the measurement and says what it used. */
  start(): () => MeasuredUsage {
    const resetOk = this.resetPeak();
    const cpu = process.cpuUsage();
    const t0 = performance.now();
    return () => {
      const wallMs = Math.max(0, Math.round(performance.now() - t0));
      const used = process.cpuUsage(cpu);
      const cpuMs = Math.round((used.user + used.system) / 1000);
      return { wallMs, cpuMs, maxRssBytes: (resetOk && this.readPeak()) || process.resourceUsage().maxRSS * 1024 };
    };
  }

  close(): void {
    for (const fd of [this.clearRefs, this.status]) if (fd !== undefined) closeSync(fd);
  }

  private resetPeak(): boolean {
    if (this.clearRefs === undefined) return false;
    try {
      writeSync(this.clearRefs, '5');
      return true;
    } catch {
      return false;
    }
  }

  /** VmHWM in bytes, or undefined when /proc does not say. */
  private readPeak(): number | undefined {
    if (this.status === undefined) return undefined;
    try {
      const n = readSync(this.status, this.buffer, 0, this.buffer.length, 0);
      const match = HIGH_WATER.exec(this.buffer.toString('latin1', 0, n));
      return match ? Number(match[1]) * 1024 : undefined;
    } catch {
      return undefined;
    }
  }
}

function tryOpen(path: string, flags: 'r' | 'w'): number | undefined {
  try {
    return openSync(path, flags);
  } catch {
    return undefined;
  }
}

/** Largest figures a worker's report may carry; anything else is not a measurement (worker.outcome.ts checks). */
const MAX_MS = 366 * 24 * 3600 * 1000;
const MAX_BYTES = 2 ** 50;

/** A worker's usage report as the agent takes it: well-formed figures, or undefined (the worker runs the task's code). */
export function checkedUsage(reported: unknown): MeasuredUsage | undefined {
  if (reported === null || typeof reported !== 'object') return undefined;
  const { wallMs, cpuMs, maxRssBytes } = reported as Record<string, unknown>;
  const figure = (v: unknown, max: number) => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= max;
  if (!figure(wallMs, MAX_MS)) return undefined;
  if (cpuMs !== null && !figure(cpuMs, MAX_MS)) return undefined;
  if (maxRssBytes !== null && !figure(maxRssBytes, MAX_BYTES)) return undefined;
  return { wallMs: wallMs as number, cpuMs: cpuMs as number | null, maxRssBytes: maxRssBytes as number | null };
}
