import { jest } from '@jest/globals';

/**
 * Records every row a repository's statements return until `restore()`: what a test asserts the server
 * did not read (another user's values), not only what it answered.
 */
export function recordRowsRead(repository: object): { read: unknown[]; restore(): void } {
  const repo = repository as { query: (...a: unknown[]) => Promise<unknown[]> };
  const read: unknown[] = [];
  const original = repo.query.bind(repo);
  const spy = jest.spyOn(repo, 'query').mockImplementation(async (...a: unknown[]) => {
    const rows = await original(...a);
    read.push(...rows);
    return rows;
  });
  return { read, restore: () => spy.mockRestore() };
}
