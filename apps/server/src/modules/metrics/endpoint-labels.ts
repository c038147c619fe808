/** Distinct endpoint label values one server exports at most; the rest are summed under OTHER_ENDPOINT. */
export const MAX_ENDPOINT_LABELS = 1_000;
/** The label value of every endpoint past the cap (and of deleted ones). */
export const OTHER_ENDPOINT = 'other';
/** Deleted endpoints remembered, so that a late report about one cannot take a slot again. */
const MAX_GONE = 10_000;

/**
 * The `endpoint` label values: the endpoint's id while there is room, `other` past the cap. Prometheus
 * keeps a series per label value for as long as it is exported, so the number of values must stay
 * bounded however many endpoints come and go: ids get a slot on first use, keep it while exported,
 * and give it back when their endpoint is deleted (`release`), so that a server which has seen
 * millions of short-lived endpoints still exports at most `max` of them. Ids are never reused, so a
 * released one is `other` from then on (a heartbeat or outcome still in flight when it was deleted
 * must not take its slot back).
 */
export class EndpointLabels {
  private readonly slots = new Set<string>();
  private readonly gone = new Set<string>();

  constructor(readonly max = MAX_ENDPOINT_LABELS) {}

  /** The label value for this endpoint id. */
  of(endpointId: string): string {
    if (this.slots.has(endpointId)) return endpointId;
    if (this.slots.size >= this.max || this.gone.has(endpointId)) return OTHER_ENDPOINT;
    this.slots.add(endpointId);
    return endpointId;
  }

  /** The endpoint is gone: its value is no longer exported, and its slot is free for another. True if it had one. */
  release(endpointId: string): boolean {
    this.gone.add(endpointId);
    // oldest first: a Set iterates in insertion order
    if (this.gone.size > MAX_GONE) this.gone.delete(this.gone.values().next().value!);
    return this.slots.delete(endpointId);
  }

  get size(): number {
    return this.slots.size;
  }
}
