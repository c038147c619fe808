/**
 * JSON with every object's keys sorted (recursively) and no spaces, so that `{a:1,b:2}` and `{b:2,a:1}`
 * give the same text: the server keys memoized results by it, and the agent compares heartbeat statuses
 * with it. Values equal as JSON are the same (1 and 1.0 both arrive as the number 1).
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.keys(value)
    .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`);
  return `{${entries.join(',')}}`;
}
