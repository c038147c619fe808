import type { HeartbeatPayload, TaskResources } from '@fx/protocol';

/** A member of an endpoint group as routing sees it: what its last heartbeat said, and its backlog. */
export interface MemberLoad {
  endpointId: string;
  /** Its owner: a member whose heartbeat says `ownerOnly` takes only that user's tasks. */
  ownerId: string;
  online: boolean;
  /** null: it runs any function; otherwise only these ids. */
  allowedFunctions: string[] | null;
  /** Its agent's last heartbeat (null when it never sent one). */
  status: HeartbeatPayload | null;
  /** Its agent said `ownerOnly` in its hello: known from the moment it connects, before any heartbeat. */
  ownerOnly?: boolean;
  /** Tasks waiting in its queue (not yet handed to its agent). */
  waiting: number;
}

export interface TaskToPlace {
  /** Whose task it is (absent: no owner check). */
  ownerId?: string;
  /** Its serializer is pickle: its result is unpickled on its owner's machine (see trusts). */
  pickled?: boolean;
  functionId: string;
  resources?: TaskResources | null;
  /** Content hashes of the objects its arguments refer to. */
  objects?: string[];
}

/**
 * A task whose inputs a member already fetched counts as this many fewer tasks per worker ahead of it
 * there: a member with all of a task's objects wins unless its queue is over a round of its workers
 * longer than another's. Transfers of large inputs cost more than waiting a little.
 */
export const LOCALITY_BONUS = 1;

/**
 * Whether the member could ever hold the task, as far as its heartbeat tells: GPUs need pinned
 * accelerators (one per worker) or a batch scheduler's blocks, several nodes need a batch scheduler.
 * What the heartbeat cannot tell (a member not heard from yet, a scheduler's partitions) counts as fit:
 * the agent has the last word and fails a task it cannot hold with RESOURCES_UNAVAILABLE.
 */
export function canHold(status: HeartbeatPayload | null, resources: TaskResources | null | undefined): boolean {
  if (!resources || !status) return true;
  const details = status.details ?? {};
  const scheduler = Array.isArray(details['blocks']) || status.provider === 'slurm';
  if ((resources.nodes ?? 1) > 1 && !scheduler) return false;
  const gpus = resources.gpus ?? 0;
  if (gpus > 0 && !scheduler) {
    const devices = Array.isArray(details['devices']) ? details['devices'].length : 0;
    // a pinned worker holds exactly one accelerator
    if (devices === 0 || gpus > 1) return false;
  }
  return true;
}

/**
 * Whether the member may run the task at all as its user: one whose tasks are not isolated from one
 * another (`ownerOnly` in its hello or heartbeat: no bubblewrap) runs only its owner's and fails another
 * user's ISOLATION_REQUIRED. A member never connected counts as able: when its agent connects saying
 * so, the tasks it may not run move to other members (EndpointRoutingService.rehome).
 */
export function mayRun(m: MemberLoad, t: Pick<TaskToPlace, 'ownerId'>): boolean {
  return !(m.ownerOnly || m.status?.ownerOnly) || t.ownerId === undefined || t.ownerId === m.ownerId;
}

/**
 * Whether the task's owner may be handed what the member returns: a pickle task's result is unpickled
 * by the owner's SDK, and unpickling runs whatever code the pickle names, so another user's agent
 * (which could return anything) must never run one. Such tasks go to the owner's own members only.
 */
export function trusts(m: MemberLoad, t: Pick<TaskToPlace, 'ownerId' | 'pickled'>): boolean {
  return !t.pickled || t.ownerId === undefined || t.ownerId === m.ownerId;
}

/** Workers the member brings (at least one, so a member scaling from zero still takes work). */
export function capacityOf(m: MemberLoad): number {
  return Math.max(1, m.status?.workers.total ?? 1);
}

/** Tasks ahead in its queue and in its agent, per worker. */
function backlogOf(m: MemberLoad): number {
  const inAgent = m.online && m.status ? m.status.queued + m.status.running : 0;
  return m.waiting + inAgent;
}

export type Refusal = 'FUNCTION_NOT_ALLOWED' | 'NO_MEMBERS' | 'ISOLATION_REQUIRED' | 'PICKLE_FOREIGN';
export type Choice = { endpointId: string } | { refused: Refusal };

/**
 * One member per task, in order. Each task goes to the member where it would wait least, counted in
 * tasks per worker ((backlog + placed so far + 1) / workers), less LOCALITY_BONUS times the share of
 * its input objects the member already holds: a batch spreads in proportion to free capacity instead
 * of all going to the emptiest member. Candidates are the online members that allow the function, may
 * run the task as its user (mayRun), are trusted with its result (trusts) and can hold it; when none is
 * online, any member that allows, may run and is trusted with it (the task waits there until rerouting
 * moves it to a member that comes online).
 */
export function chooseMembers(
  members: MemberLoad[],
  tasks: TaskToPlace[],
  holds: (endpointId: string, ownerId: string | undefined, sha256: string) => boolean,
): Choice[] {
  const placed = new Map<string, number>();
  return tasks.map((t) => {
    if (members.length === 0) return { refused: 'NO_MEMBERS' } as const;
    const permitting = members.filter((m) => m.allowedFunctions === null || m.allowedFunctions.includes(t.functionId));
    if (permitting.length === 0) return { refused: 'FUNCTION_NOT_ALLOWED' } as const;
    const isolating = permitting.filter((m) => mayRun(m, t));
    if (isolating.length === 0) return { refused: 'ISOLATION_REQUIRED' } as const;
    const allowed = isolating.filter((m) => trusts(m, t));
    if (allowed.length === 0) return { refused: 'PICKLE_FOREIGN' } as const;
    const online = allowed.filter((m) => m.online);
    const fitting = online.filter((m) => canHold(m.status, t.resources));
    const candidates = fitting.length ? fitting : online.length ? online : allowed;
    let best: MemberLoad | undefined;
    let bestScore = Infinity;
    for (const m of candidates) {
      const ahead = (backlogOf(m) + (placed.get(m.endpointId) ?? 0) + 1) / capacityOf(m);
      const objects = t.objects ?? [];
      const local = objects.length ? objects.filter((sha) => holds(m.endpointId, t.ownerId, sha)).length / objects.length : 0;
      const score = ahead - LOCALITY_BONUS * local;
      if (score < bestScore) {
        best = m;
        bestScore = score;
      }
    }
    placed.set(best!.endpointId, (placed.get(best!.endpointId) ?? 0) + 1);
    return { endpointId: best!.endpointId };
  });
}

/**
 * The largest task a member can hold, as `canHold` judges it, in the terms a SQL filter needs: GPUs and
 * nodes per task. null: no bound (a batch scheduler, or a member not heard from yet).
 */
export function holdLimits(status: HeartbeatPayload | null): { gpus: number; nodes: number } | null {
  if (canHold(status, { nodes: 2 })) return null;
  return { gpus: canHold(status, { gpus: 1 }) ? 1 : 0, nodes: 1 };
}

/** Tasks a member may take off another's queue: what waits there beyond the workers it has free. */
export function surplusOf(m: MemberLoad): number {
  if (!m.online || !m.status) return m.waiting;
  const free = Math.max(0, capacityOf(m) - m.status.queued - m.status.running);
  return Math.max(0, m.waiting - free);
}

/**
 * What an idle member (`me`, with `room` tasks it can start now) takes from the other members of its
 * groups: from each member with a surplus (more waiting than it has free workers), at most that
 * surplus, the largest surpluses first, `room` in all. Online or offline alike: an offline member's
 * tasks are rerouted anyway, and an idle member is the best place for them.
 */
export function stealPlan(me: string, members: MemberLoad[], room: number): Array<{ endpointId: string; take: number }> {
  const surplus = new Map<string, number>();
  for (const m of members) if (m.endpointId !== me) surplus.set(m.endpointId, surplusOf(m));
  const plan: Array<{ endpointId: string; take: number }> = [];
  let left = room;
  for (const [endpointId, n] of [...surplus].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))) {
    if (left <= 0 || n <= 0) break;
    const take = Math.min(n, left);
    plan.push({ endpointId, take });
    left -= take;
  }
  return plan;
}
