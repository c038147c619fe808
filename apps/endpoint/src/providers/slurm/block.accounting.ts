import { MAX_BLOCK_REPORTS, type BlockReport } from '@fx/protocol';

/**
 * Accounting of pilot blocks (issue 17; BlockReport in libs/protocol/src/usage.ts): what each block
 * cost in node time, and how much of it was idle.
 */

/** The busy / idle split of a block's wall time. */
export interface BlockSplit {
  busyMs: number;
  idleMs: number;
}

/**
 * Splits one block's wall time into busy (at least one task running on it) and idle, integrating at
 * every transition: the provider tells it how many tasks run on the block whenever that changes. Pure:
 * every time is passed in (epoch ms, whole), and a time earlier than the last one seen counts as the
 * last one (a clock stepped back adds nothing), so at any moment
 * `busyMs + idleMs = (endedAt ?? now) − startedAt`, exactly.
 */
export class BlockClock {
  readonly startedAt: number;
  private last: number;
  private running = 0;
  private busy = 0;
  private idle = 0;
  private ended?: number;

  constructor(startedAt: number) {
    this.startedAt = Math.floor(startedAt);
    this.last = this.startedAt;
  }

  get endedAt(): number | undefined {
    return this.ended;
  }

  /** From `at` on, `running` tasks run on the block. */
  set(running: number, at: number): void {
    if (this.ended !== undefined) return;
    this.advance(at);
    this.running = running;
  }

  /** The block ended at `at`: its split is final. */
  end(at: number): void {
    if (this.ended !== undefined) return;
    this.advance(at);
    this.running = 0;
    this.ended = this.last;
  }

  /** Busy and idle time up to `now` (up to its end once ended). */
  split(now: number): BlockSplit {
    const open = this.ended === undefined ? Math.max(0, Math.floor(now) - this.last) : 0;
    return this.running > 0 ? { busyMs: this.busy + open, idleMs: this.idle } : { busyMs: this.busy, idleMs: this.idle + open };
  }

  private advance(at: number): void {
    const t = Math.max(this.last, Math.floor(at));
    if (this.running > 0) this.busy += t - this.last;
    else this.idle += t - this.last;
    this.last = t;
  }
}

/** What a report is made from: the parts of a block the ledger reads. */
export interface AccountedBlock {
  id: string;
  jobId?: string;
  state: string;
  clock?: BlockClock;
}

/** An ended block's report is sent in this many heartbeats, then forgotten (a lost heartbeat loses nothing). */
export const ENDED_REPORT_HEARTBEATS = 12;

/**
 * The reports of one agent's blocks for its heartbeats: live blocks first, then the latest ended ones
 * (their final figures, frozen when they ended), at most MAX_BLOCK_REPORTS in all. An ended block is
 * reported in ENDED_REPORT_HEARTBEATS heartbeats, so that one lost on the way costs nothing; the server
 * upserts by block, so repeats are harmless.
 */
export class BlockLedger {
  /** Newest first. */
  private ended: Array<{ report: BlockReport; sent: number }> = [];

  /** `nodes`: what a block holds once running (the nodes Slurm allocates it). */
  constructor(private readonly nodes: number) {}

  /** The report of one block now. Node time counts from its first node joined, as a whole allocation. */
  report(block: AccountedBlock, now: number): BlockReport {
    const clock = block.clock;
    const split = clock ? clock.split(now) : { busyMs: 0, idleMs: 0 };
    return {
      blockId: block.id,
      ...(block.jobId !== undefined ? { jobId: block.jobId } : {}),
      state: block.state,
      nodes: clock ? this.nodes : 0,
      ...(clock ? { startedAt: clock.startedAt } : {}),
      ...(clock?.endedAt !== undefined ? { endedAt: clock.endedAt } : {}),
      ...split,
    };
  }

  /** A block ended (its clock ended first): its final report joins the ended ones. */
  close(block: AccountedBlock, now: number): void {
    this.ended.unshift({ report: { ...this.report(block, now), state: 'ended' }, sent: 0 });
    this.ended.length = Math.min(this.ended.length, MAX_BLOCK_REPORTS);
  }

  /** The reports for one heartbeat: `live` blocks (not ended), then ended ones while room is left. */
  reports(live: Iterable<AccountedBlock>, now: number): BlockReport[] {
    const out: BlockReport[] = [];
    for (const block of live) if (out.length < MAX_BLOCK_REPORTS) out.push(this.report(block, now));
    for (const entry of this.ended) {
      if (out.length >= MAX_BLOCK_REPORTS) break;
      out.push(entry.report);
      entry.sent++;
    }
    this.ended = this.ended.filter((e) => e.sent < ENDED_REPORT_HEARTBEATS);
    return out;
  }
}
