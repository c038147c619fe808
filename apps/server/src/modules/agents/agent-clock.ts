/**
 * Agent clocks are trusted for display only: a time outside these bounds (epoch ms, years 2000 to 2200)
 * is dropped rather than stored, so one bad value cannot fail the statement that records its whole frame.
 * A file of its own so that what ResultsService itself uses (LiveService) can read it without a cycle.
 */
const MIN_TIME_MS = 946_684_800_000;
const MAX_TIME_MS = 7_258_118_400_000;

/** An agent's timestamp, if it is a sane one. */
export function saneTime(ms: unknown): number | undefined {
  return typeof ms === 'number' && Number.isFinite(ms) && ms >= MIN_TIME_MS && ms <= MAX_TIME_MS ? ms : undefined;
}
