import type { TaskOutcome } from '@fx/sdk';
import type { CliContext } from './cli.context.js';
import { ProgressReporter } from './progress.js';

/** What `fx batch --json` and `fx watch --json` print. */
export interface BatchSummary {
  batchIds: string[];
  total: number;
  done: number;
  succeeded: number;
  failed: number;
  cancelled: number;
  elapsedSeconds: number;
  /** The first failures (at most MAX_LISTED_FAILURES), with their remote error. */
  failures: Array<{ taskId: string; status: 'failed' | 'cancelled'; code?: string; name?: string; message?: string }>;
}

const MAX_LISTED_FAILURES = 20;

/**
 * Follows outcomes to the end with progress on stderr (a bar on a terminal, plain lines otherwise) and
 * returns the tally. `total()` is read at each outcome: `fx batch` learns it as it reads its input.
 * Used by `fx batch` (outcomes of its map) and by `fx watch` (outcomes of the groups it re-attaches to).
 */
export async function followOutcomes(
  context: CliContext,
  batchIds: string[],
  outcomes: AsyncIterable<TaskOutcome>,
  total: () => number,
): Promise<BatchSummary> {
  const started = context.now();
  const reporter = new ProgressReporter(context);
  const summary: BatchSummary = { batchIds, total: total(), done: 0, succeeded: 0, failed: 0, cancelled: 0, elapsedSeconds: 0, failures: [] };
  const progress = () => ({ done: summary.done, failed: summary.failed + summary.cancelled, total: summary.total });
  reporter.start();
  reporter.update(progress());
  const off = context.onInterrupt(() => {
    reporter.finish(progress());
    const ids = batchIds.join(' ');
    context.err(`Stopped waiting; the tasks submitted keep running: "fx watch ${ids}" re-attaches, "fx cancel <batch id>" stops them.`);
  });
  try {
    for await (const outcome of outcomes) {
      tally(summary, outcome);
      summary.total = Math.max(total(), summary.done);
      reporter.update(progress());
    }
  } finally {
    off();
    summary.total = Math.max(total(), summary.done);
    summary.elapsedSeconds = (context.now() - started) / 1000;
    reporter.finish(progress());
  }
  return summary;
}

function tally(summary: BatchSummary, outcome: TaskOutcome): void {
  summary.done++;
  if (outcome.status === 'success') {
    summary.succeeded++;
    return;
  }
  if (outcome.status === 'failed') summary.failed++;
  else summary.cancelled++;
  if (summary.failures.length < MAX_LISTED_FAILURES) {
    summary.failures.push({
      taskId: outcome.taskId,
      status: outcome.status,
      ...(outcome.error ? { code: outcome.error.code, name: outcome.error.name, message: outcome.error.message } : {}),
    });
  }
}

/** The end of a batch for people, on stderr: the failures worth a look. */
export function reportSummary(context: CliContext, summary: BatchSummary): void {
  const unsuccessful = summary.failed + summary.cancelled;
  if (unsuccessful === 0) return;
  context.err(
    `${summary.failed} failed, ${summary.cancelled} cancelled${unsuccessful > summary.failures.length ? ` (the first ${summary.failures.length} below)` : ''}:`,
  );
  for (const f of summary.failures) {
    context.err(`  ${f.taskId}  ${f.status === 'cancelled' ? 'cancelled' : `${f.name ?? 'Error'}: ${f.message ?? ''} [${f.code ?? '?'}]`}`);
  }
  context.err(`"fx task <id>" shows one in full; "fx tasks --status failed" lists them.`);
}
