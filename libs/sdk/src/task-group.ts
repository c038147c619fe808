import {
  CancelGroupResponse,
  CreateGroupRequest,
  GroupInfo,
  GroupTasksQuery,
  GroupTasksResponse,
  type GroupKind,
  type SpeculationOptions,
  type TaskOutcome,
  type TaskStatus,
  type TaskSummary,
} from '@fx/protocol';
import type { GroupResultsOptions } from './client.options.js';
import type { FxError } from './errors.js';
import type { ResultChannel } from './result-channel.js';
import type { RestRequest } from './rest-transport.js';
import { checkInput, queryString } from './validate.js';
import { Wakeup } from './wakeup.js';

/** What a group (and a map) needs of its client: its requests and its result socket. */
export interface GroupTransport {
  request<T>(req: RestRequest<T>): Promise<T>;
  channel: ResultChannel;
}

/** POST /v1/groups: an empty group of the caller's, for batches to join with `groupId`. */
export async function createGroup(transport: GroupTransport, kind: GroupKind = 'batch', speculation?: SpeculationOptions): Promise<GroupInfo> {
  const body = checkInput(CreateGroupRequest, { kind, ...(speculation ? { speculation } : {}) }, 'group');
  return transport.request({ method: 'POST', path: '/v1/groups', body, response: GroupInfo });
}

/**
 * A task group by id: a batch (its `batchId`), a graph submitted as one batch, or a map. Made by
 * `client.group(id)`, which sends nothing; another user's group fails with NotFoundError on the first
 * call. A client that restarted re-attaches with `results()`, which streams every task's outcome.
 */
export class TaskGroup {
  readonly #transport: GroupTransport;

  constructor(
    transport: GroupTransport,
    /** The group id. */
    readonly id: string,
  ) {
    this.#transport = transport;
  }

  /** The group: kind, owner, creation time, and its tasks counted per state. */
  describe(): Promise<GroupInfo> {
    return this.#transport.request({ method: 'GET', path: `/v1/groups/${this.id}`, response: GroupInfo });
  }

  /** One page of its tasks, oldest first (`limit` up to 1000; pass `nextCursor` back as `cursor`). */
  tasks(query: GroupTasksQuery = {}): Promise<GroupTasksResponse> {
    const params = queryString(checkInput(GroupTasksQuery, query, 'group tasks query'));
    return this.#transport.request({ method: 'GET', path: `/v1/groups/${this.id}/tasks?${params}`, response: GroupTasksResponse });
  }

  /** Every task of the group as it is now, page after page (optionally only some states). */
  async *list(status?: TaskStatus[]): AsyncGenerator<TaskSummary, void, undefined> {
    let cursor: string | undefined;
    do {
      const page = await this.tasks({ limit: 1000, ...(status ? { status } : {}), ...(cursor === undefined ? {} : { cursor }) });
      yield* page.items;
      cursor = page.nextCursor ?? undefined;
    } while (cursor !== undefined);
  }

  /** Cancels every unfinished task of the group (their dependents too); says how many. */
  cancel(): Promise<CancelGroupResponse> {
    return this.#transport.request({ method: 'POST', path: `/v1/groups/${this.id}/cancel`, response: CancelGroupResponse, idempotent: true });
  }

  /**
   * Streams the outcome of every task the group holds (tasks added while it streams are included
   * when the listing reaches them), in completion order, each once; failed and cancelled tasks are
   * yielded, not thrown. Finished tasks come from the server's catch-up read, so this works as well
   * days later as right away.
   */
  async *results(options: GroupResultsOptions = {}): AsyncGenerator<TaskOutcome, void, undefined> {
    const window = Math.max(1000, options.window ?? 10_000);
    const { signal } = options;
    const outstanding = new Set<string>();
    const arrived: TaskOutcome[] = [];
    const detaches: Array<() => void> = [];
    let failure: { error: unknown } | undefined;
    const wakeup = new Wakeup();
    const sink = {
      outcome(o: TaskOutcome) {
        if (!outstanding.delete(o.taskId)) return;
        arrived.push(o);
        wakeup.notify();
      },
      fail(error: FxError) {
        failure ??= { error };
        wakeup.notify();
      },
    };
    const onAbort = () => sink.fail(signal!.reason as FxError);
    signal?.addEventListener('abort', onAbort, { once: true });
    let cursor: string | null | undefined;
    try {
      for (;;) {
        if (signal?.aborted) throw signal.reason;
        // read on while there is room, and until the listing reaches the end of the group
        while (cursor !== null && outstanding.size + 1000 <= window) {
          const page = await this.tasks({ limit: 1000, ...(cursor === undefined ? {} : { cursor }) });
          const ids = page.items.map((t) => t.id).filter((id) => !outstanding.has(id));
          for (const id of ids) outstanding.add(id);
          cursor = page.nextCursor;
          if (ids.length) detaches.push(this.#transport.channel.watch(ids, sink));
        }
        while (arrived.length) yield arrived.shift()!;
        if (failure) throw failure.error;
        if (cursor === null && outstanding.size === 0) return;
        if (outstanding.size + 1000 > window || cursor === null) await wakeup.wait();
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
      for (const detach of detaches) detach();
    }
  }
}
