import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '@fx/testing';
import { isConflictError, withConflictRetry } from './conflict-retry.js';

describe('conflict retry', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });

  /** Two transactions that lock rows 1 and 2 in opposite orders: PostgreSQL aborts one with 40P01. */
  async function realDeadlock(): Promise<unknown> {
    const a = new pg.Client({ connectionString: db.url });
    const b = new pg.Client({ connectionString: db.url });
    await a.connect();
    await b.connect();
    try {
      await a.query('CREATE TABLE IF NOT EXISTS d (id int primary key, n int)');
      await a.query('INSERT INTO d VALUES (1, 0), (2, 0) ON CONFLICT DO NOTHING');
      await a.query('BEGIN');
      await b.query('BEGIN');
      await a.query('UPDATE d SET n = n + 1 WHERE id = 1');
      await b.query('UPDATE d SET n = n + 1 WHERE id = 2');
      const outcomes = await Promise.allSettled([a.query('UPDATE d SET n = n + 1 WHERE id = 2'), b.query('UPDATE d SET n = n + 1 WHERE id = 1')]);
      return outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected')?.reason;
    } finally {
      await a.query('ROLLBACK').catch(() => undefined);
      await b.query('ROLLBACK').catch(() => undefined);
      await a.end();
      await b.end();
    }
  }

  it('recognises a real deadlock, the way Prisma reports it, and nothing else', async () => {
    const deadlock = await realDeadlock();
    expect((deadlock as { code?: string }).code).toBe('40P01');
    expect(isConflictError(deadlock)).toBe(true);
    expect(isConflictError(new Error('Invalid `prisma.$queryRawUnsafe()` invocation:\n\nRaw query failed. Code: `40P01`. Message: `deadlock detected`'))).toBe(
      true,
    );
    expect(isConflictError({ code: 'P2010', meta: { code: '40001' } })).toBe(true);
    expect(isConflictError(new Error('wrapped', { cause: deadlock }))).toBe(true);
    expect(isConflictError(Object.assign(new Error('duplicate key'), { code: '23505' }))).toBe(false);
    expect(isConflictError(new Error('connection terminated'))).toBe(false);
  });

  it('runs a statement aborted by a deadlock again, and gives up after the last attempt or on other errors', async () => {
    const deadlock = await realDeadlock();
    let calls = 0;
    await expect(withConflictRetry(async () => (++calls < 3 ? Promise.reject(deadlock) : 'done'))).resolves.toBe('done');
    expect(calls).toBe(3);
    calls = 0;
    await expect(withConflictRetry(async () => (++calls, Promise.reject(deadlock)), 2)).rejects.toBe(deadlock);
    expect(calls).toBe(2);
    calls = 0;
    const other = new Error('syntax error');
    await expect(withConflictRetry(async () => (++calls, Promise.reject(other)))).rejects.toBe(other);
    expect(calls).toBe(1);
  });
});
