import { jest } from '@jest/globals';
import path from 'node:path';
import { createTestDatabase, tempDir, type TempDir, type TestDatabase } from '@fx/testing';
import pg from 'pg';
import { PrismaPg } from '@prisma/adapter-pg';
import { Prisma, PrismaClient } from '../generated/prisma/client.js';
import { EndpointsRepository } from '../modules/endpoints/endpoints.repository.js';
import { FunctionsRepository } from '../modules/functions/functions.repository.js';
import type { Database } from './database.js';
import { createDatabase } from './database.factory.js';
import { prismaSql, type SqlRunner } from './sql-runner.js';
import { pgSql } from './sql-runner.pg.js';

/** What a value is, deeply: the repositories' callers depend on the JS types, not only on equality. */
function shape(v: unknown): unknown {
  if (v === null) return 'null';
  if (Array.isArray(v)) return v.map(shape);
  if (Prisma.Decimal.isDecimal(v)) return `Decimal(${v.toString()})`;
  if (v instanceof Date) return `Date(${v.toISOString()})`;
  if (typeof v === 'object') return Object.fromEntries(Object.entries(v as object).map(([k, x]) => [k, shape(x)]));
  return `${typeof v}(${String(v)})`;
}

// Every column type the repositories read, and every parameter type they pass.
const ROW = `SELECT 42::int8 AS i8, count(*) AS n, 7::int4 AS i4, 12.50::numeric AS num, 1.5::float8 AS f8,
  '2026-12-03 10:11:12.345+02'::timestamptz AS tstz, '2026-12-03 10:11:12.345'::timestamp AS ts, '2026-12-03'::date AS d,
  '{"a":[1,"x",null],"b":{"c":true}}'::jsonb AS jb, '[1,2]'::json AS j, ARRAY['a','b"c',NULL]::text[] AS texts,
  ARRAY[1,NULL]::int8[] AS i8s, ARRAY[1.5]::numeric[] AS nums, ARRAY['2026-01-01T00:00:00Z']::timestamptz[] AS tstzs,
  true AS yes, NULL::bool AS unknown, 'b7a5f0a2-3c1e-4b8e-9a57-0e6d2f9c1a10'::uuid AS id, NULL::text AS nothing
  FROM (VALUES (1), (2)) v(x)`;
const PARAMS = `SELECT $1::timestamptz AS at, $2::int8 AS big, $3::text[] AS texts, $4::jsonb AS doc, $5::numeric AS num,
  $6::bool AS yes, $7::text AS nothing, $8::int4 AS small, $9::float8 AS frac, $1::timestamp AS wall, $10::timestamptz[] AS ats`;
const params = [
  new Date('2026-12-03T10:11:12.345Z'),
  9007199254740993n,
  ['a', 'b,c', '"q"'],
  JSON.stringify({ k: [1, 'v'] }),
  new Prisma.Decimal('3.25'),
  false,
  null,
  5,
  0.25,
  [new Date(0)],
];

describe('pgSql (named prepared statements on the pool)', () => {
  let testDb: TestDatabase;
  let pool: pg.Pool;
  let prisma: PrismaClient;
  let viaPrisma: SqlRunner;
  let viaPg: SqlRunner;

  beforeAll(async () => {
    testDb = await createTestDatabase();
    pool = new pg.Pool({ connectionString: testDb.url, max: 2 });
    prisma = new PrismaClient({ adapter: new PrismaPg(pool) });
    viaPrisma = prismaSql(prisma);
    viaPg = pgSql(pool);
  });
  afterAll(async () => {
    await prisma.$disconnect();
    await pool.end();
    await testDb.drop();
  });

  it('returns the same JS types as Prisma raw API for every column type', async () => {
    const [expected] = await viaPrisma.query(ROW, []);
    const [actual] = await viaPg.query(ROW, []);
    expect(shape(actual)).toEqual(shape(expected));
    // And what that is, so that a change on Prisma's side shows here too.
    expect(shape(actual)).toMatchObject({
      i8: 'bigint(42)',
      n: 'bigint(2)',
      num: 'Decimal(12.5)',
      tstz: 'Date(2026-12-03T08:11:12.345Z)',
      yes: 'boolean(true)',
    });
    expect(shape(actual)).toMatchObject({ jb: { a: ['number(1)', 'string(x)', 'null'] }, texts: ['string(a)', 'string(b"c)', 'null'] });
  });

  it('encodes parameters as Prisma does, whatever the time zone of the process', async () => {
    // As if the process ran east of UTC (jest gives each file its own process.env, so TZ cannot be set).
    const offset = jest.spyOn(Date.prototype, 'getTimezoneOffset').mockReturnValue(-330);
    try {
      const [expected] = await viaPrisma.query(PARAMS, params);
      const [actual] = await viaPg.query(PARAMS, params);
      expect(shape(actual)).toEqual(shape(expected));
      expect(shape(actual)).toMatchObject({ at: 'Date(2026-12-03T10:11:12.345Z)', wall: 'Date(2026-12-03T10:11:12.345Z)', big: 'bigint(9007199254740993)' });
      expect(shape(actual)).toMatchObject({ num: 'Decimal(3.25)', ats: ['Date(1970-01-01T00:00:00.000Z)'] });
    } finally {
      offset.mockRestore();
    }
  });

  it('counts the rows a statement changed, and runs a statement again under its name', async () => {
    await viaPg.exec('CREATE TABLE t (x int)', []);
    for (let i = 0; i < 3; i++) expect(await viaPg.exec('INSERT INTO t SELECT generate_series(1, $1::int)', [i + 1])).toBe(i + 1);
    expect(await viaPrisma.exec('UPDATE t SET x = x WHERE x > $1', [1])).toBe(3);
    expect(await viaPg.exec('DELETE FROM t WHERE x > $1', [1])).toBe(3);
    const prepared = await viaPg.query<{ n: bigint }>(`SELECT count(*) AS n FROM pg_prepared_statements WHERE name LIKE 'fx_%'`, []);
    expect(prepared[0]!.n).toBeGreaterThan(0n);
  });

  it('fails with the PostgreSQL error code, as the conflict and unique-violation checks read it', async () => {
    await viaPg.exec('CREATE TABLE u (x int PRIMARY KEY)', []);
    await viaPg.exec('INSERT INTO u VALUES ($1)', [1]);
    await expect(viaPg.exec('INSERT INTO u VALUES ($1)', [1])).rejects.toMatchObject({ code: '23505' });
  });

  it('answers a statement whose table another replica migrated meanwhile (a rolling upgrade), unnamed from then on', async () => {
    const one = new pg.Pool({ connectionString: testDb.url, max: 1 });
    try {
      const sql = pgSql(one);
      await sql.exec('CREATE TABLE r (x int)', []);
      await sql.exec('INSERT INTO r VALUES ($1)', [1]);
      const read = 'SELECT * FROM r WHERE x = $1';
      expect(await sql.query(read, [1])).toEqual([{ x: 1 }]);
      await viaPrisma.exec('ALTER TABLE r ADD COLUMN y int NOT NULL DEFAULT 2', []);
      // PostgreSQL refuses the prepared statement now ("cached plan must not change result type")
      expect(await sql.query(read, [1])).toEqual([{ x: 1, y: 2 }]);
      expect(await sql.query(read, [1])).toEqual([{ x: 1, y: 2 }]);
    } finally {
      await one.end();
    }
  });
});

describe.each(['postgres', 'pglite'] as const)('model reads through Database.sql (modelSelect), %s', (kind) => {
  let testDb: TestDatabase;
  let dir: TempDir;
  let db: Database;

  beforeAll(async () => {
    testDb = await createTestDatabase();
    dir = await tempDir();
    const migrationsDir = path.resolve('prisma/migrations');
    db = await createDatabase(
      kind === 'postgres'
        ? { databaseUrl: testDb.url, dataDir: dir.path, migrationsDir, poolSize: 2 }
        : { dataDir: dir.path, migrationsDir, embeddedStore: 'pglite' },
    );
    await db.migrate();
  }, 120_000);
  afterAll(async () => {
    await db.close();
    await testDb.drop();
    await dir.remove();
  });

  it('answer what Prisma findFirst and findMany answer, field by field', async () => {
    const owner = await db.prisma.user.create({ data: { name: 'u' } });
    const fn = await db.prisma.function.create({
      data: { ownerId: owner.id, name: 'f', runtime: 'js', source: 's', contentHash: 'h', walltimeSeconds: 1.5, retry: { maxRetries: 2 }, cacheTtlSeconds: 60 },
    });
    const ep = await db.prisma.endpoint.create({
      data: {
        ownerId: owner.id,
        name: 'e',
        allowedFunctions: [fn.id],
        restricted: true,
        agent: { v: [1, 'x'] },
        lockedAt: new Date('2026-01-02T03:04:05.678Z'),
      },
    });
    const functions = new FunctionsRepository(db);
    const endpoints = new EndpointsRepository(db);
    expect(shape(await functions.findLive(fn.id))).toEqual(shape(await db.prisma.function.findFirst({ where: { id: fn.id } })));
    expect(shape(await functions.findManyLive([fn.id]))).toEqual(shape(await db.prisma.function.findMany({ where: { id: fn.id } })));
    expect(shape(await endpoints.findLive(ep.id))).toEqual(shape(await db.prisma.endpoint.findFirst({ where: { id: ep.id } })));
    expect(shape(await endpoints.findManyLive([ep.id]))).toEqual(shape(await db.prisma.endpoint.findMany({ where: { id: ep.id } })));
    await db.prisma.function.update({ where: { id: fn.id }, data: { deletedAt: new Date() } });
    expect([await functions.findLive(fn.id), await functions.findManyLive([fn.id])]).toEqual([null, []]);
  });
});
