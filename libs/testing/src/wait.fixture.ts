/** What a polled condition returns once it holds: its value, minus the "not yet" values. */
export type Settled<T> = Exclude<T, undefined | null | false | 0 | ''>;

export interface EventuallyOptions {
  /** Pause between two polls. @default 200 */
  intervalMs?: number;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Polls `fn` until it returns something truthy and returns that; throws `<what> not met within <timeoutMs> ms`
 * once the time is up. For state that settles asynchronously (a process, a socket, a row); an error
 * thrown by `fn` ends the wait at once.
 */
export async function eventually<T>(fn: () => T | Promise<T>, timeoutMs = 30_000, what = 'condition', options: EventuallyOptions = {}): Promise<Settled<T>> {
  const { intervalMs = 200 } = options;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v as Settled<T>;
    if (Date.now() > deadline) throw new Error(`${what} not met within ${timeoutMs} ms`);
    await sleep(intervalMs);
  }
}
