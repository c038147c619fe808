import { MAX_USAGE_WINDOW_DAYS, type UsageBucket, type UsageBy, type UsageQuery } from '@fx/protocol';
import type { z } from 'zod';
import { FxException } from '../../common/fx.exception.js';

/** The query as ZodPipe hands it over (defaults applied). */
export type ParsedUsageQuery = z.output<typeof UsageQuery>;

const DAY_MS = 86_400_000;
/** The window when the query names no `since`: this long before `until`. */
export const DEFAULT_USAGE_DAYS = 7;
/**
 * Longest window hourly buckets may cover. A series holds one point per bucket and key, so a year of
 * hours for MAX_USAGE_KEYS keys would be close to a million points; a month of them is 74,400 at most.
 */
export const MAX_HOURLY_USAGE_DAYS = 31;

/** What a usage report covers: attempts that ended in [since, until), grouped by `by`, bucketed by `bucket`. */
export interface UsageWindow {
  by: UsageBy;
  bucket: UsageBucket;
  since: Date;
  until: Date;
}

/**
 * The window of a usage query, checked: `until` defaults to now and `since` to DEFAULT_USAGE_DAYS
 * before `until`; since must come before until, and the window is at most MAX_USAGE_WINDOW_DAYS long
 * (MAX_HOURLY_USAGE_DAYS with hourly buckets). Every refusal is a 400 that says what to change.
 */
export function usageWindow(q: ParsedUsageQuery, now: number): UsageWindow {
  const until = q.until === undefined ? new Date(now) : new Date(q.until);
  const since = q.since === undefined ? new Date(until.getTime() - DEFAULT_USAGE_DAYS * DAY_MS) : new Date(q.since);
  if (since.getTime() >= until.getTime())
    throw new FxException('VALIDATION_FAILED', `since (${since.toISOString()}) must be before until (${until.toISOString()})`);
  const days = (until.getTime() - since.getTime()) / DAY_MS;
  if (days > MAX_USAGE_WINDOW_DAYS)
    throw new FxException('VALIDATION_FAILED', `the window covers ${days.toFixed(1)} days; at most ${MAX_USAGE_WINDOW_DAYS} may be asked for at once`);
  if (q.bucket === 'hour' && days > MAX_HOURLY_USAGE_DAYS)
    throw new FxException(
      'VALIDATION_FAILED',
      `hourly buckets cover at most ${MAX_HOURLY_USAGE_DAYS} days, and the window covers ${days.toFixed(1)}; ask for bucket=day or a shorter window`,
    );
  return { by: q.by, bucket: q.bucket, since, until };
}
