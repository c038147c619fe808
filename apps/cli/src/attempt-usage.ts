import type { AttemptUsage } from '@fx/protocol';
import { formatBytes } from './output.js';
import { formatDuration } from './progress.js';

/** A task's time for people: `12 ms`, `1.25 s`, then `2m05s` as progress lines say it. */
function took(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(2)} s`;
  return formatDuration(ms);
}

const count = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

/**
 * What an attempt held and used (AttemptUsage), for `fx task`: `wall 1.25 s, 1 core, 0 GPUs, CPU 1.10 s,
 * peak memory 52.3 MiB`; CPU time and memory say `not measured` where the runtime cannot (shell).
 */
export function describeUsage(u: AttemptUsage): string {
  return [
    `wall ${took(u.wallMs)}`,
    count(u.cores, 'core', 'cores'),
    count(u.gpus, 'GPU', 'GPUs'),
    `CPU ${u.cpuMs === null ? 'not measured' : took(u.cpuMs)}`,
    `peak memory ${u.maxRssBytes === null ? 'not measured' : formatBytes(u.maxRssBytes)}`,
  ].join(', ');
}
