import { Option, type Command } from 'commander';
import { RETRYABLE_CODES, RetryPolicy, type RetryPolicyInput, type TaskAttempt } from '@fx/protocol';
import { CliError, parsePositiveInt } from '@fx/cli-kit';
import { describeUsage } from './attempt-usage.js';
import { formatTime } from './output.js';

/** What the retry options of a command hold once parsed. */
export interface RetryOptions {
  retryMaxAttempts?: number;
  retryBackoff?: number;
  retryOn?: string;
}

/** `--retry-max-attempts`, `--retry-backoff`, `--retry-on`: a retry policy on the command line (`fx functions register`, `fx run`). */
export function addRetryOptions(command: Command, what: string): Command {
  return command
    .addOption(
      new Option('--retry-max-attempts <n>', `run ${what} again after a failed attempt, up to n attempts in all (at most 10)`).argParser(parsePositiveInt),
    )
    .addOption(new Option('--retry-backoff <seconds>', 'seconds between a failed attempt and the next (default 0, at most 3600)').argParser(Number))
    .addOption(new Option('--retry-on <codes>', `comma-separated failure codes that are retried (default: ${RETRYABLE_CODES.join(',')})`));
}

/** The policy the options describe, checked as the server checks it; undefined when none is given. */
export function retryPolicyFrom(options: RetryOptions): RetryPolicyInput | undefined {
  if (options.retryMaxAttempts === undefined) {
    if (options.retryBackoff !== undefined || options.retryOn !== undefined) throw new CliError('--retry-backoff and --retry-on need --retry-max-attempts', 2);
    return undefined;
  }
  const policy = {
    maxAttempts: options.retryMaxAttempts,
    ...(options.retryBackoff === undefined ? {} : { backoffSeconds: options.retryBackoff }),
    ...(options.retryOn === undefined ? {} : { on: options.retryOn.split(',').map((c) => c.trim().toUpperCase()) }),
  };
  const parsed = RetryPolicy.safeParse(policy);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new CliError(`invalid retry policy: ${issue.path.join('.') || 'policy'}: ${issue.message}`, 2);
  }
  return parsed.data;
}

/** One line per attempt, for `fx task`: where it ran, when, and how it ended; then what it used, when its agent said. */
export function attemptLines(attempts: readonly TaskAttempt[]): string[] {
  return attempts.flatMap((a) => {
    const where = [a.blockId ? `block ${a.blockId}` : null, a.workerId ? `worker ${a.workerId}` : null, a.connectionId ? `connection ${a.connectionId}` : null]
      .filter(Boolean)
      .join(', ');
    const error = a.error ? `  ${a.error.code}: ${a.error.message.split('\n')[0]}` : '';
    const next = a.retryAt ? `  retry at ${formatTime(a.retryAt)}` : '';
    // a speculative copy shares its number with the attempt it ran alongside
    const status = a.speculative ? `${a.status} (copy)` : a.status;
    const line = `  #${a.number} ${status.padEnd(20)} queued ${formatTime(a.queuedAt)}  started ${formatTime(a.startedAt)}  ended ${formatTime(a.endedAt)}${where ? `  (${where})` : ''}${error}${next}`;
    return a.usage ? [line, `     used: ${describeUsage(a.usage)}`] : [line];
  });
}

/** A policy in words, for `fx functions show` and `fx task`. */
export function describeRetry(policy: RetryPolicy): string {
  return `${policy.maxAttempts} attempts, ${policy.backoffSeconds}s apart, on ${policy.on.join(', ')}`;
}
