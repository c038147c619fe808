import type { DispatchedTask, FunctionSpec } from './endpoint.js';

/** What each side of one endpoint connection remembers of the functions sent on it. */
export const FUNCTION_CACHE_LIMITS = Object.freeze({
  maxEntries: 1_024,
  /** Sum of the sources' lengths (UTF-16 code units). */
  maxSourceChars: 64 * 1024 * 1024,
});

/**
 * The functions one endpoint connection has been sent, least recently used first. The server keeps
 * one per connection to decide which specs a `tasks` frame must carry; the agent keeps one to resolve
 * the ids in the frames it receives. Both call `use` for the functions of every `tasks` frame, in the
 * frame's order (`functionsOf`), so with the same limits the agent's cache always holds at least what
 * the server believes it holds (an LRU keeps the most recent entries that fit; the agent's may only
 * have older extras from an earlier connection, which it evicts first).
 */
export class FunctionSpecCache {
  /** Map order is recency order: the first entry is the least recently used. */
  private readonly specs = new Map<string, FunctionSpec>();
  private chars = 0;

  constructor(private readonly limits: { maxEntries: number; maxSourceChars: number } = FUNCTION_CACHE_LIMITS) {}

  get size(): number {
    return this.specs.size;
  }

  get(id: string): FunctionSpec | undefined {
    return this.specs.get(id);
  }

  has(id: string): boolean {
    return this.specs.has(id);
  }

  /** Marks `spec` most recently used, adding it if new, then evicts the least recently used past the limits. */
  use(spec: FunctionSpec): void {
    const old = this.specs.get(spec.id);
    if (old) {
      this.specs.delete(spec.id);
      this.chars -= old.source.length;
    }
    this.specs.set(spec.id, spec);
    this.chars += spec.source.length;
    for (const [id, s] of this.specs) {
      if (this.specs.size <= this.limits.maxEntries && this.chars <= this.limits.maxSourceChars) break;
      this.specs.delete(id);
      this.chars -= s.source.length;
    }
  }
}

/** The distinct function ids of a frame's tasks, in order of first appearance: the order both peers `use` them in. */
export function functionsOf(tasks: ReadonlyArray<Pick<DispatchedTask, 'functionId'>>): string[] {
  return [...new Set(tasks.map((t) => t.functionId))];
}
