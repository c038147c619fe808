import { parseRef, type ParsedRef } from '@fx/protocol';

/** A reference by name, as parseRef takes it apart. */
export type NameRef = Exclude<ParsedRef, { id: string }>;

/**
 * Turns the distinct refs of one request into ids, each ref once however many tasks name it: a batch
 * of 10,000 tasks naming one function costs one lookup, and refs that are already ids cost none.
 */
export async function resolveRefIds(refs: Iterable<string>, byName: (ref: string, parsed: NameRef) => Promise<string>): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const named: Array<[string, NameRef]> = [];
  for (const ref of new Set(refs)) {
    const parsed = parseRef(ref);
    if ('id' in parsed) out.set(ref, parsed.id);
    else named.push([ref, parsed]);
  }
  const ids = await Promise.all(named.map(([ref, parsed]) => byName(ref, parsed)));
  named.forEach(([ref], i) => out.set(ref, ids[i]!));
  return out;
}
