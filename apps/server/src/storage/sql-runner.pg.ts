import { createHash } from 'node:crypto';
import pg from 'pg';
import { Prisma } from '../generated/prisma/client.js';
import type { SqlRunner } from './sql-runner.js';

/**
 * Statements sent to the pool directly, as named prepared statements: Prisma's runtime around a raw
 * query cost ~2 ms of server CPU per task, and an unnamed statement is parsed and planned again on
 * every execution. The name is a hash of the text, so it is stable and never names two texts.
 */
const MAX_NAMED = 1000;
/** PostgreSQL's refusal of a prepared statement whose result's columns changed (its code alone is broader). */
const isStalePlan = (e: unknown) => (e as { code?: string }).code === '0A000' && /cached plan must not change result type/.test((e as Error).message);

/** Row values as Prisma's raw API gives them (its adapter's parsers then its own decoding), so callers see no difference. */
const OID = { texts: 1009, int8: 20, int8s: 1016, numeric: 1700, numerics: 1231, date: 1082, dates: 1182, timestamp: 1114, timestamps: 1115 };
// `as never`: the TypeId enum of pg-types names no array type.
const textArray = pg.types.getTypeParser(OID.texts as never) as (s: string) => Array<string | null>;
const arrayOf = (parse: (s: string) => unknown) => (s: string) => textArray(s).map((x) => (x === null ? null : parse(x)));
const asUtc = (s: string) => new Date(`${s.replace(' ', 'T')}Z`);
const parsers: Record<number, (s: string) => unknown> = {
  [OID.int8]: (s) => BigInt(s),
  [OID.int8s]: arrayOf((s) => BigInt(s)),
  [OID.numeric]: (s) => new Prisma.Decimal(s),
  [OID.numerics]: arrayOf((s) => new Prisma.Decimal(s)),
  [OID.date]: (s) => new Date(s),
  [OID.dates]: arrayOf((s) => new Date(s)),
  [OID.timestamp]: asUtc,
  [OID.timestamps]: arrayOf(asUtc),
};
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    (format ?? 'text') === 'text' && parsers[oid] ? parsers[oid] : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

/**
 * Parameters as Prisma sends them: a Decimal as its digits (pg would JSON-encode the object, a quoted
 * string) and a Date in UTC (pg would write the process's local time, which a `::timestamp` keeps).
 */
const param = (v: unknown): unknown => (v instanceof Date ? v.toISOString() : Prisma.Decimal.isDecimal(v) ? v.toString() : Array.isArray(v) ? v.map(param) : v);

export function pgSql(pool: pg.Pool): SqlRunner {
  // Bounded: a text built with values in it would otherwise prepare a new statement on every connection each time.
  const names = new Map<string, string | undefined>();
  const nameOf = (text: string): string | undefined => {
    let name = names.get(text);
    if (name === undefined && !names.has(text) && names.size < MAX_NAMED) {
      name = `fx_${createHash('sha1').update(text).digest('base64url')}`;
      names.set(text, name);
    }
    return name;
  };
  const run = async (text: string, params: readonly unknown[]) => {
    const values = params.map(param);
    const name = nameOf(text);
    try {
      return await pool.query({ name, text, values, types });
    } catch (e) {
      // A table whose columns another replica's migration changed (a rolling upgrade) makes PostgreSQL
      // refuse the statement prepared before, on every connection that holds it: this text goes unnamed.
      if (name === undefined || !isStalePlan(e)) throw e;
      names.set(text, undefined);
      return pool.query({ text, values, types });
    }
  };
  return {
    query: async <T>(text: string, params: readonly unknown[]) => (await run(text, params)).rows as T[],
    exec: async (text, params) => (await run(text, params)).rowCount ?? 0,
  };
}
