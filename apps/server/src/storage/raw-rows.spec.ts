import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';

/**
 * raw-rows.ts names raw SQL columns after the generated model fields, in snake_case. That holds only
 * while the schema (every .prisma file under prisma/) maps every field to exactly that column: this reads
 * the schema and says so.
 */
const schema = readdirSync(path.resolve('prisma'), { recursive: true, encoding: 'utf8' })
  .filter((f) => f.endsWith('.prisma'))
  .map((f) => readFileSync(path.resolve('prisma', f), 'utf8'))
  .join('\n');
const snake = (name: string) => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

function scalarFields(): Array<{ model: string; field: string; column: string }> {
  const models = [...schema.matchAll(/^model (\w+) \{([\s\S]*?)^\}/gm)];
  const modelNames = new Set(models.map((m) => m[1]!));
  return models.flatMap(([, model, body]) =>
    body!
      .split('\n')
      .map((line) => line.replace(/\/\/.*$/, '').trim())
      .map((line) => /^(\w+)\s+(\w+)(\[\])?\??(.*)$/.exec(line))
      .filter((m): m is RegExpExecArray => m !== null && !modelNames.has(m[2]!))
      .map((m) => ({ model: model!, field: m[1]!, column: /@map\("([^"]+)"\)/.exec(m[4]!)?.[1] ?? m[1]! })),
  );
}

describe('the Prisma schema', () => {
  it('maps every scalar field to the snake_case of its name, the column raw SQL reads', () => {
    const fields = scalarFields();
    expect(fields.length).toBeGreaterThan(40);
    expect(fields.filter((f) => f.column !== snake(f.field))).toEqual([]);
    expect(fields).toContainEqual({ model: 'Task', field: 'leaseExpiresAt', column: 'lease_expires_at' });
  });
});
