import type { Prisma } from '../generated/prisma/client.js';

/**
 * Row types of raw SQL, tied to the Prisma schema so that they cannot drift from it: a column renamed,
 * dropped or given another type in schema.prisma breaks the build of every query that reads it.
 *
 * Raw SQL sees columns, not Prisma fields: `ownerId` is read as `owner_id`. The schema maps every
 * field to the snake_case of its name (raw-rows.spec.ts checks schema.prisma for it), so the column
 * names follow from the generated model types.
 */
export type SnakeCase<S extends string> = S extends `${infer Head}${infer Tail}`
  ? `${Head extends Lowercase<Head> ? Head : `_${Lowercase<Head>}`}${SnakeCase<Tail>}`
  : S;

/** A model's columns as raw SQL returns them: snake_case names, the generated client's types. */
export type Columns<Model> = { [K in keyof Model & string as SnakeCase<K>]: Model[K] };

/**
 * What a query may say of a column beyond Prisma's type: something narrower (a status union, a column
 * its WHERE makes non-null), or for a JSON column, which Prisma types as any JSON, the shape FX stores.
 */
type Refinable<T> = [Prisma.JsonValue] extends [T] ? unknown : T;
type Refinements<Model, K extends keyof Columns<Model>> = { [C in K]?: Refinable<Columns<Model>[C]> };
/** Refinements name only columns that are read: a misspelt one is an error, not an extra field. */
type OnlyRead<R, K> = { [C in Exclude<keyof R, K>]: never };

/**
 * The columns `K` of `Model`, with the refinements `R` (each checked against the column's own type).
 * Values computed by the query (counts, JSON fields pulled out) are added with `&`: they are no column.
 */
export type RawRow<Model, K extends keyof Columns<Model>, R extends Refinements<Model, K> & OnlyRead<R, K> = Record<never, never>> = Omit<
  Pick<Columns<Model>, K>,
  keyof R
> &
  R;

/**
 * A SELECT list of every scalar field of a model (`Prisma.<Model>ScalarFieldEnum`), each column named
 * after its field: raw SQL whose rows are what Prisma's findMany gives, the hot reads then skip its runtime.
 */
export function modelSelect(fields: Record<string, string>): string {
  return Object.keys(fields)
    .map((f) => `${f.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)} AS "${f}"`)
    .join(', ');
}
