import { createHash } from 'node:crypto';

/** Two prefixes overlap when one starts with the other: a name could then fall under both. */
export const overlaps = (a: string, b: string): boolean => a.startsWith(b) || b.startsWith(a);

export interface TriggerShape {
  id: string;
  prefix: string;
  outputPrefix: string | null;
}

/**
 * Why a new trigger would fire itself, directly or through the caller's other triggers (its outputs
 * landing under a prefix that leads back to it), or null. Such a loop would run without end, so it is
 * refused when the trigger is made rather than found in production.
 */
export function loopProblem(fresh: TriggerShape, existing: TriggerShape[]): string | null {
  const all = [...existing, fresh];
  // an edge a → b: a's outputs may land under b's prefix
  const next = (a: TriggerShape) => (a.outputPrefix === null ? [] : all.filter((b) => overlaps(a.outputPrefix!, b.prefix)));
  const path: TriggerShape[] = [];
  const onPath = new Set<string>();
  const done = new Set<string>();
  const visit = (t: TriggerShape): TriggerShape[] | null => {
    if (onPath.has(t.id)) return [...path.slice(path.indexOf(t)), t];
    if (done.has(t.id)) return null;
    onPath.add(t.id);
    path.push(t);
    for (const n of next(t)) {
      const cycle = visit(n);
      if (cycle) return cycle;
    }
    path.pop();
    onPath.delete(t.id);
    done.add(t.id);
    return null;
  };
  const cycle = visit(fresh);
  if (!cycle) return null;
  const steps = cycle.map((t) => `"${t.prefix}"${t.outputPrefix === null ? '' : ` → "${t.outputPrefix}"`}`);
  return cycle.length === 2
    ? `outputPrefix "${fresh.outputPrefix}" overlaps prefix "${fresh.prefix}": the trigger's outputs would fire it again without end`
    : `this trigger's outputs would fire it again through your other triggers (${steps.join(', then ')}): outputs must not lead back to an input prefix`;
}

/** The name a triggered task's result is stored under: the output prefix, then the input's name after the trigger's prefix. */
export const outputName = (inputName: string, prefix: string, outputPrefix: string): string => outputPrefix + inputName.slice(prefix.length);

/**
 * The id of the task a trigger starts for an object: the same pair always gives the same id, so a
 * firing repeated after a crash (or on two replicas at once) meets the first one's row and adds
 * nothing — exactly once per object, without a lock. A UUID of version 8 (RFC 9562, custom) built from
 * sha256 of the pair.
 */
export function firingTaskId(triggerId: string, objectId: string): string {
  const b = createHash('sha256').update(`fx-trigger:${triggerId}:${objectId}`).digest().subarray(0, 16);
  b[6] = (b[6]! & 0x0f) | 0x80;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
