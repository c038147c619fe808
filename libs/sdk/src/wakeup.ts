/**
 * The sleep of a result generator between arrivals: it waits, and whatever has news (an outcome, a
 * failure, a timeout) notifies. A notify while nobody waits is dropped: the generator looks at its
 * queue before it waits again.
 */
export class Wakeup {
  #wake: (() => void) | undefined;

  /** Wakes the waiting generator, if it waits. */
  readonly notify = (): void => {
    const w = this.#wake;
    this.#wake = undefined;
    w?.();
  };

  /** Resolves at the next notify. */
  wait(): Promise<void> {
    return new Promise<void>((resolve) => (this.#wake = resolve));
  }
}
