/**
 * Exponential backoff with jitter, the one every FX peer uses to retry and reconnect: the ceiling is
 * `initialDelayMs · 2^attempt`, capped at `maxDelayMs`, and the delay is drawn below it so that a crowd of
 * peers that lost the same server does not come back in step.
 */
export interface BackoffOptions {
  /** @default 250 */
  initialDelayMs?: number;
  /** @default 10000 */
  maxDelayMs?: number;
  /**
   * `full`: uniform in [0, ceiling) (agents: a server restart sees them spread over the whole window);
   * `equal`: uniform in [ceiling/2, ceiling] (SDK retries: never sooner than half the ceiling).
   * @default 'full'
   */
  jitter?: 'full' | 'equal';
}

/**
 * The longest an agent waits between two reconnects by default (config.yaml `reconnect.maxDelayMs`): a
 * server that has just started gives held leases this long, plus one lease term, to be claimed again.
 */
export const AGENT_RECONNECT_MAX_DELAY_MS = 10_000;

/** The delay before retry number `attempt` (0 for the first), in whole milliseconds. */
export function backoffDelay(attempt: number, options: BackoffOptions = {}, random: () => number = Math.random): number {
  const initial = options.initialDelayMs ?? 250;
  const max = options.maxDelayMs ?? 10_000;
  const ceiling = Math.min(max, initial * 2 ** Math.min(attempt, 30));
  if (options.jitter === 'equal') return Math.round(ceiling / 2 + (random() * ceiling) / 2);
  return Math.floor(random() * ceiling);
}
