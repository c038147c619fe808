import { Inject, Injectable, Logger } from '@nestjs/common';
import { DEFAULT_LIMITS, type RemoteError, type TaskStatus } from '@fx/protocol';
import { APP_CONFIG, type AppConfig } from '../../config/env.js';
import { EventsService } from '../events/events.service.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { QueueService } from '../tasks/queue.service.js';
import type { QueuedRow } from '../tasks/tasks.repository.js';
import { DependenciesRepository, type CandidateScope, type ReadyCandidate } from './dependencies.repository.js';
import { CacheService } from '../cache/cache.service.js';
import { dependencyFailure, mayHaveDependents, pickledInput, readiness, substituteInputs, substitutedBytes, tooLarge } from './dependency-rules.js';

/** Rows read per statement. */
const PAGE = 1_000;
/** Most pages in one call: a bound on one caller's work; whatever is left, the sweep finishes. */
const MAX_PAGES = 200;
/** Most bytes of inputs' results held at once while substituting them (DependenciesService.prepare). */
const CHUNK_BYTES = 256 * 1024 * 1024;
/** Most bytes of substituted args in one promoting statement. */
const PROMOTE_STATEMENT_BYTES = 16 * 1024 * 1024;

type Ended = { id: string; status: 'failed' | 'cancelled'; error: RemoteError };
type Ready = { id: string; args: unknown[]; kwargs: Record<string, unknown>; cache_key?: string };

const argumentsTooLarge = (message: string): Omit<Ended, 'id'> => ({
  status: 'failed',
  error: { code: 'PAYLOAD_TOO_LARGE', name: 'ArgumentsTooLarge', message },
});

/**
 * Moves dependents on when their inputs end (DESIGN.md invariant 9). Called after every recorded final
 * outcome (OutcomesService), after a submission whose tasks refer to earlier ones, and by the recovery
 * sweep, which repairs what a crash between "input ended" and "dependent moved" left behind. Every move
 * is one conditional UPDATE, so calling this twice, or on two replicas at once, moves each task once.
 */
@Injectable()
export class DependenciesService {
  private readonly logger = new Logger('Dependencies');
  /** Set when moving dependents failed: the next sweep repairs at once. */
  private dirty = false;
  private readonly maxArgBytes: number;

  constructor(
    @Inject(APP_CONFIG) config: Pick<AppConfig, 'FX_MAX_FRAME_BYTES'>,
    private readonly deps: DependenciesRepository,
    private readonly queue: QueueService,
    private readonly events: EventsService,
    private readonly metrics: MetricsService,
    private readonly cache: CacheService,
  ) {
    // what one task may carry to its agent: the dispatcher's frame budget (one task always fits one frame)
    this.maxArgBytes = Math.floor(Math.min(config.FX_MAX_FRAME_BYTES, DEFAULT_LIMITS.maxFrameBytes) / 2) - 64 * 1024;
  }

  /**
   * These tasks just ended: their dependents fail, are cancelled, or become ready. Tasks whose row says no
   * edge was ever recorded to them are not looked up (mayHaveDependents). Never throws.
   */
  async settled(all: ReadonlyArray<{ id: string; status: TaskStatus; has_dependents?: boolean }>): Promise<void> {
    const rows = all.filter(mayHaveDependents);
    if (rows.length === 0) return;
    const ok = rows.filter((r) => r.status === 'success').map((r) => r.id);
    const ended = rows.filter((r) => r.status !== 'success').map((r) => r.id);
    await this.guard(async () => {
      if (ended.length) await this.propagate(ended);
      if (ok.length) await this.promote({ inputIds: ok });
    });
  }

  /** New dependents were stored: some of their inputs (`external`) may have ended before. Never throws. */
  async submitted(dependentIds: string[], external: string[]): Promise<void> {
    await this.guard(async () => {
      if (external.length) await this.propagate(external);
      await this.promote({ taskIds: dependentIds });
    });
  }

  /** The sweep's repair: dependents whose inputs ended while nobody moved them. */
  async repair(): Promise<void> {
    this.dirty = false;
    await this.guard(async () => {
      for (let page = 0; page < MAX_PAGES; page++) {
        const failed = await this.deps.failedInputsWithWaitingDependents(PAGE);
        if (failed.length) await this.propagate(failed);
        if (failed.length < PAGE) break;
      }
      await this.promote('all');
    });
  }

  takeDirty(): boolean {
    return this.dirty;
  }

  private async guard(work: () => Promise<void>): Promise<void> {
    try {
      await work();
    } catch (e) {
      // nothing is lost: the edges and states are in PostgreSQL, and the sweep picks them up
      this.dirty = true;
      this.logger.error(`moving dependents failed; the recovery sweep retries: ${(e as Error).message}`);
    }
  }

  /** Fails (or cancels) everything waiting downstream of these ended tasks, level by level. */
  private async propagate(ids: string[]): Promise<void> {
    const frontier = [...ids];
    for (let pages = 0; frontier.length > 0 && pages < MAX_PAGES * 10; pages++) {
      const chunk = frontier.splice(0, PAGE);
      for (let page = 0; page < MAX_PAGES; page++) {
        const doomed = await this.deps.doomedDependents(chunk, PAGE);
        if (doomed.length === 0) break;
        const ended = doomed.map((d) => ({ id: d.id, ...dependencyFailure({ id: d.input_id, status: d.input_status, error: d.input_error }) }));
        // the next level: only what this call ended (a row another replica ended, it carries on from)
        for (const o of await this.end(ended)) frontier.push(o.id);
        if (doomed.length < PAGE) break;
      }
    }
  }

  /** Dependents in scope whose inputs all succeeded get the results in their args and join their endpoint's queue. */
  private async promote(scope: CandidateScope): Promise<void> {
    for (let page = 0; page < MAX_PAGES; page++) {
      const candidates = await this.deps.readyCandidates(scope, PAGE);
      if (candidates.length === 0) return;
      const { ready, ended } = await this.prepare(candidates);
      const promoted: QueuedRow[] = [];
      for (const rows of byBytes(ready.filter((r) => !r.cache_key))) promoted.push(...(await this.deps.promote(rows)));
      await this.queue.enqueue(promoted);
      const finished = await this.end(ended);
      if (finished.length) await this.propagate(finished.map((o) => o.id));
      await this.promoteMemoized(ready.filter((r): r is Ready & { cache_key: string } => !!r.cache_key));
      if (candidates.length < PAGE) return;
    }
  }

  /**
   * Memoized dependents (DESIGN.md invariant 11) go on as a memoized submission does, keyed by their
   * arguments with the results in place: a live entry completes them at once, without an endpoint;
   * otherwise they wait for their key's one execution, which CacheService starts (or joins). What
   * completed is published here and moves its own dependents on (OutcomesService depends on this
   * service, so it cannot be called back; a cached outcome fills no entry, so nothing of it is skipped).
   */
  private async promoteMemoized(ready: Array<Ready & { cache_key: string }>): Promise<void> {
    if (ready.length === 0) return;
    const moved = [];
    for (const rows of byBytes(ready)) moved.push(...(await this.deps.promoteMemoized(rows)));
    // a hit carries the task its entry came from; the others went in waiting (`received`)
    const hits = moved.filter((m) => m.cached_from);
    const waiting = moved.filter((m) => !m.cached_from).map((m) => m.id);
    const done = [...hits, ...(await this.cache.started(waiting))];
    if (done.length === 0) return;
    this.metrics.finished(done);
    await this.events.publishOutcomes(done);
    await this.settled(done);
  }

  /**
   * Substitutes the inputs' results into each candidate, or says why it cannot run. Sizes come first:
   * a candidate whose inputs would make its arguments far too large ends before any result is read or
   * built (one reference repeated ten thousand times to a 1 MB result), so what is built stays within
   * twice the limit; and results are read for a chunk of candidates at a time, at most CHUNK_BYTES of
   * them, so one page never holds every input at once.
   */
  private async prepare(candidates: ReadyCandidate[]): Promise<{ ready: Ready[]; ended: Ended[] }> {
    const inputIds = [...new Set(candidates.flatMap((c) => c.inputs.filter((i) => i.status === 'success').map((i) => i.id)))];
    const sizes = new Map<string, number>();
    const pickled = new Set<string>();
    for (let i = 0; i < inputIds.length; i += PAGE * 10) {
      for (const r of await this.deps.resultSizes(inputIds.slice(i, i + PAGE * 10))) {
        sizes.set(r.id, r.bytes);
        if (r.serializer === 'pickle') pickled.add(r.id);
      }
    }
    const ready: Ready[] = [];
    const ended: Ended[] = [];
    let chunk: ReadyCandidate[] = [];
    let chunkInputs = new Set<string>();
    let chunkBytes = 0;
    for (const c of candidates) {
      const states = new Map(c.inputs.flatMap((i) => (i.status ? [[i.id, i.status] as const] : [])));
      const r = readiness(
        c.inputs.map((i) => i.id),
        states,
      );
      // an input that failed meanwhile is propagate's to handle; one that is gone ends this task now
      if (r.kind === 'doomed' && !states.has(r.input)) ended.push({ id: c.id, ...dependencyFailure({ id: r.input, status: null, error: null }) });
      if (r.kind !== 'ready') continue;
      const pickle = c.inputs.find((i) => pickled.has(i.id));
      if (pickle) {
        ended.push({ id: c.id, ...pickledInput(pickle.id) });
        continue;
      }
      // PostgreSQL's text of a jsonb spaces it out (at most about twice JSON's bytes): the exact check follows
      const estimate = substitutedBytes(c, sizes);
      if (estimate > 2 * this.maxArgBytes) {
        ended.push({ id: c.id, ...argumentsTooLarge(tooLarge(estimate, this.maxArgBytes)) });
        continue;
      }
      // the bytes of this candidate's inputs that the chunk does not hold yet
      const more = () => c.inputs.reduce((sum, i) => sum + (chunkInputs.has(i.id) ? 0 : (sizes.get(i.id) ?? 0)), 0);
      let adds = more();
      if (chunk.length > 0 && chunkBytes + adds > CHUNK_BYTES) {
        await this.substitute(chunk, chunkInputs, ready, ended);
        [chunk, chunkInputs, chunkBytes] = [[], new Set<string>(), 0];
        adds = more();
      }
      chunk.push(c);
      for (const i of c.inputs) if (sizes.has(i.id)) chunkInputs.add(i.id);
      chunkBytes += adds;
    }
    if (chunk.length > 0) await this.substitute(chunk, chunkInputs, ready, ended);
    return { ready, ended };
  }

  /**
   * Reads the results of a chunk's inputs and puts them in place, each candidate on its own. What each
   * builds is bounded by prepare's estimate; substituteInputs measures it exactly.
   */
  private async substitute(chunk: ReadyCandidate[], inputs: Set<string>, ready: Ready[], ended: Ended[]): Promise<void> {
    const results = new Map<string, unknown>();
    const ids = [...inputs];
    for (let i = 0; i < ids.length; i += PAGE) for (const r of await this.deps.results(ids.slice(i, i + PAGE))) results.set(r.id, r.result);
    for (const c of chunk) {
      const s = substituteInputs(c, results, this.maxArgBytes);
      if (s.ok && c.cache_scope && c.content_hash)
        ready.push({ id: c.id, args: s.args, kwargs: s.kwargs, cache_key: this.cache.keyOf(c.cache_scope, c.content_hash, s) });
      else if (s.ok) ready.push({ id: c.id, args: s.args, kwargs: s.kwargs });
      else if ('missing' in s) ended.push({ id: c.id, ...dependencyFailure({ id: s.missing, status: null, error: null }) });
      else ended.push({ id: c.id, ...argumentsTooLarge(s.problem) });
    }
  }

  private async end(rows: Ended[]) {
    if (rows.length === 0) return [];
    const outcomes = await this.deps.finish(rows);
    this.metrics.finished(outcomes);
    await this.events.publishOutcomes(outcomes);
    return outcomes;
  }
}

/** Rows in groups of at most PROMOTE_STATEMENT_BYTES of JSON (at least one row each). */
function byBytes<T>(rows: T[]): T[][] {
  const groups: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const row of rows) {
    const size = JSON.stringify(row).length;
    if (current.length && bytes + size > PROMOTE_STATEMENT_BYTES) {
      groups.push(current);
      current = [];
      bytes = 0;
    }
    current.push(row);
    bytes += size;
  }
  if (current.length) groups.push(current);
  return groups;
}
