import { BeforeApplicationShutdown, Inject, Injectable, OnModuleInit } from '@nestjs/common';
import { isFinalStatus, type TaskResultEntry, type TaskResultsResponse } from '@fx/protocol';
import { APP_CONFIG, type AppConfig } from '../../config/env.js';
import { FxException } from '../../common/fx.exception.js';
import type { Principal } from '../auth/principal.js';
import { EventsService } from '../events/events.service.js';
import { TasksRepository } from './tasks.repository.js';
import { visibleCachedFrom } from './cached-source.js';

interface Waiter {
  wake(): void;
}

/**
 * POST /v1/tasks/results: outcomes over plain HTTP, with a long-poll that waits on the cluster's
 * 'results' event (it reaches every replica) instead of polling the database. A waiter is registered
 * before the first read, so an outcome published while that read runs still wakes it.
 */
@Injectable()
export class TaskResultsService implements OnModuleInit, BeforeApplicationShutdown {
  /** task id -> long-polls waiting on it (this replica). */
  private readonly waiting = new Map<string, Set<Waiter>>();
  /** user id -> long-polls open (this replica). */
  private readonly openPolls = new Map<string, number>();
  private closing = false;

  constructor(
    @Inject(APP_CONFIG) private readonly config: Pick<AppConfig, 'FX_MAX_LONG_POLLS_PER_USER' | 'FX_MAX_RESULTS_RESPONSE_BYTES'>,
    private readonly tasks: TasksRepository,
    private readonly events: EventsService,
  ) {}

  onModuleInit(): void {
    this.events.on('results', ({ results }) => {
      for (const r of results) for (const w of this.waiting.get(r.taskId) ?? []) w.wake();
    });
  }

  /** Open long-polls answer now (with the tasks as they are), so a shutdown does not wait for them. */
  beforeApplicationShutdown(): void {
    this.closing = true;
    for (const set of this.waiting.values()) for (const w of set) w.wake();
  }

  async results(p: Principal, ids: string[], waitMs: number, aborted?: AbortSignal): Promise<TaskResultsResponse> {
    const unique = [...new Set(ids)];
    if (waitMs === 0 || this.closing) return this.read(p, unique);
    const open = this.openPolls.get(p.userId) ?? 0;
    if (open >= this.config.FX_MAX_LONG_POLLS_PER_USER) {
      throw new FxException(
        'RATE_LIMITED',
        `you have ${open} results long-polls (waitMs) open on this server, the most allowed (FX_MAX_LONG_POLLS_PER_USER); wait for one to answer, or ask without waitMs`,
      );
    }
    this.openPolls.set(p.userId, open + 1);
    // `pending`: an outcome of one of these ids was published since the last read began
    let pending = false;
    let notify: (() => void) | null = null;
    const waiter: Waiter = {
      wake: () => {
        pending = true;
        notify?.();
      },
    };
    const onAbort = () => notify?.();
    aborted?.addEventListener('abort', onAbort);
    for (const id of unique) {
      let set = this.waiting.get(id);
      if (!set) this.waiting.set(id, (set = new Set()));
      set.add(waiter);
    }
    const deadline = Date.now() + waitMs;
    try {
      let answer = await this.read(p, unique);
      // Only the caller's own tasks count: an outcome of someone else's id wakes the poll, and the
      // re-read finds nothing final that is visible, so it waits on.
      while (answer.final === 0 && !aborted?.aborted && !this.closing) {
        const left = deadline - Date.now();
        if (left <= 0) return await this.read(p, unique);
        if (!pending) {
          let timer: NodeJS.Timeout | undefined;
          await new Promise<void>((resolve) => {
            notify = resolve;
            timer = setTimeout(resolve, left);
          });
          notify = null;
          clearTimeout(timer);
        }
        if (!pending) continue; // the deadline (checked above), an abort or a shutdown
        pending = false;
        answer = await this.read(p, unique);
      }
      return answer;
    } finally {
      aborted?.removeEventListener('abort', onAbort);
      for (const id of unique) {
        const set = this.waiting.get(id);
        set?.delete(waiter);
        if (set?.size === 0) this.waiting.delete(id);
      }
      const left = (this.openPolls.get(p.userId) ?? 1) - 1;
      if (left > 0) this.openPolls.set(p.userId, left);
      else this.openPolls.delete(p.userId);
    }
  }

  /** Statuses in one read; outcomes of final tasks in a second, as many as fit the response budget. */
  private async read(p: Principal, ids: string[]): Promise<TaskResultsResponse> {
    const heads = (await this.tasks.findResultHeads(ids)).filter((r) => r.owner_id === p.userId || p.admin);
    const byId = new Map(heads.map((h) => [h.id, h]));
    let budget = this.config.FX_MAX_RESULTS_RESPONSE_BYTES;
    const fetch: string[] = [];
    for (const id of ids) {
      const h = byId.get(id);
      if (!h || !isFinalStatus(h.status)) continue;
      const bytes = h.bytes ?? 0;
      // the first outcome always fits, so a client can always make progress
      if (fetch.length > 0 && bytes > budget) continue;
      budget -= bytes;
      fetch.push(id);
    }
    const bodies = new Map((fetch.length ? await this.tasks.findResultBodies(fetch) : []).map((b) => [b.id, b]));
    const tasks: TaskResultEntry[] = [];
    const notFound: string[] = [];
    let final = 0;
    for (const id of ids) {
      const h = byId.get(id);
      if (!h) {
        notFound.push(id);
        continue;
      }
      const entry: TaskResultEntry = { taskId: id, status: h.status, attempt: h.attempt };
      // the Python SDK unpickles a result only when the task was submitted so, never because of its shape
      if (h.serializer === 'pickle') entry.serializer = 'pickle';
      if (isFinalStatus(h.status)) {
        final++;
        if (h.completed_at) entry.completedAt = new Date(h.completed_at).toISOString();
        const source = visibleCachedFrom(h, p);
        if (h.cached_from) Object.assign(entry, { cached: true }, source ? { cachedFrom: source } : {});
        const body = bodies.get(id);
        if (!body) entry.resultOmitted = true;
        else {
          if (h.status === 'success') {
            if (body.result_ref) entry.resultRef = body.result_ref;
            else entry.result = body.result ?? null;
          }
          if (body.error) entry.error = body.error;
          if (body.output) entry.output = body.output;
        }
      }
      tasks.push(entry);
    }
    return { tasks, notFound, final };
  }
}
