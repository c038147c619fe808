/**
 * An async job that runs one at a time: asking while a run is under way does not start a second one
 * but makes the current run go round once more, so every ask is followed by a round that saw its
 * change. The first round starts synchronously, in the caller's turn.
 */
export class CoalescedJob {
  private again = false;
  private busy = false;
  private latest: Promise<void> = Promise.resolve();

  constructor(private readonly job: () => Promise<void>) {}

  /** Runs the job (or once more after the round under way); resolves when no round is left to run. */
  run(): Promise<void> {
    this.again = true;
    if (!this.busy) {
      this.busy = true;
      this.latest = this.loop();
    }
    return this.latest;
  }

  /** The latest run, settled or not. */
  idle(): Promise<void> {
    return this.latest;
  }

  private async loop(): Promise<void> {
    try {
      while (this.again) {
        this.again = false;
        await this.job();
      }
    } finally {
      this.busy = false;
    }
  }
}
