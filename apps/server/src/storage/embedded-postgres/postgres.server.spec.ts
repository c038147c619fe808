import { statSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { jest } from '@jest/globals';
import pg from 'pg';
import { eventually, tempDir, type TempDir } from '@fx/testing';
import { createDatabase } from '../database.factory.js';
import { findPostgresBinaries } from './postgres.binaries.js';
import { postgresLauncher } from './postgres.launcher.js';
import { EmbeddedPostgres } from './postgres.server.js';

jest.setTimeout(60_000);

const migrationsDir = join(process.cwd(), 'prisma/migrations');

async function query(url: string, sql: string): Promise<unknown[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql)).rows;
  } finally {
    await client.end();
  }
}

const postmasterPid = async (dir: string) => Number((await readFile(join(dir, 'data', 'postmaster.pid'), 'utf8')).split('\n')[0]);

describe('embedded PostgreSQL server', () => {
  let tmp: TempDir;
  const servers: EmbeddedPostgres[] = [];
  const make = (dir: string) => {
    const s = new EmbeddedPostgres({ dir, binaries: findPostgresBinaries(), launcher: postgresLauncher() });
    servers.push(s);
    return s;
  };

  beforeEach(async () => {
    tmp = await tempDir('fx-embedded-pg');
  });
  afterEach(async () => {
    for (const s of servers.splice(0)) await s.stop();
    await tmp.remove();
  });

  it('keeps its files private to the user running FX, and takes only its own password on 127.0.0.1', async () => {
    const dir = join(tmp.path, 'postgres');
    const server = make(dir);
    await server.start();
    expect(await query(server.url, 'SELECT 1 AS one')).toEqual([{ one: 1 }]);
    for (const p of [dir, join(dir, 'data'), join(dir, 'data', 'base')]) {
      expect(statSync(p).mode & 0o777).toBe(0o700);
      expect(statSync(p).uid).toBe(process.getuid!());
    }
    for (const p of [join(dir, 'password'), join(dir, 'server.log'), join(dir, 'data', 'PG_VERSION')]) {
      expect(statSync(p).mode & 0o777).toBe(0o600);
      expect(statSync(p).uid).toBe(process.getuid!());
    }
    const url = new URL(server.url);
    expect(url.hostname).toBe('127.0.0.1');
    url.password = 'wrong';
    await expect(query(url.toString(), 'SELECT 1')).rejects.toThrow(/password authentication failed/);
  });

  it('stops a server left running by a killed FX before starting its own, and keeps the data', async () => {
    const dir = join(tmp.path, 'postgres');
    const first = make(dir);
    await first.start();
    await query(first.url, 'CREATE TABLE kept (v int); INSERT INTO kept VALUES (42)');
    const orphan = await postmasterPid(dir);
    // A second start on the same directory, as after FX was killed with its postgres still running.
    const second = make(dir);
    await second.start();
    expect(await postmasterPid(dir)).not.toBe(orphan);
    expect(() => process.kill(orphan, 0)).toThrow();
    expect(await query(second.url, 'SELECT v FROM kept')).toEqual([{ v: 42 }]);
  });

  it('starts the server again when it dies under FX, on the same URL', async () => {
    const dir = join(tmp.path, 'postgres');
    const server = make(dir);
    await server.start();
    const before = await postmasterPid(dir);
    process.kill(before, 'SIGKILL');
    const rows = await eventually(() => query(server.url, 'SELECT 2 AS two').catch(() => undefined), 20_000, 'the restarted server answering');
    expect(rows).toEqual([{ two: 2 }]);
    expect(await postmasterPid(dir)).not.toBe(before);
  });
});

describe('choosing the embedded store', () => {
  let tmp: TempDir;
  beforeEach(async () => {
    tmp = await tempDir('fx-embedded-choice');
  });
  afterEach(() => tmp.remove());

  it('is the embedded PostgreSQL in a new data directory', async () => {
    const db = await createDatabase({ dataDir: tmp.path, migrationsDir, poolSize: 2 });
    try {
      expect(db.kind).toBe('embedded-postgres');
      await db.migrate();
      expect(await db.health()).toBe(true);
    } finally {
      await db.close();
    }
  });

  it('keeps using the PGlite store a data directory already holds', async () => {
    const old = await createDatabase({ dataDir: tmp.path, migrationsDir, embeddedStore: 'pglite' });
    await old.migrate();
    await old.prisma.$executeRawUnsafe(`CREATE TABLE kept (v int)`);
    await old.close();
    const db = await createDatabase({ dataDir: tmp.path, migrationsDir });
    try {
      expect(db.kind).toBe('pglite');
      expect(await db.prisma.$queryRawUnsafe(`SELECT count(*)::int AS n FROM kept`)).toEqual([{ n: 0 }]);
    } finally {
      await db.close();
    }
  });

  it('refuses FX_EMBEDDED_STORE=postgres beside a PGlite store rather than start an empty one', async () => {
    await mkdir(join(tmp.path, 'pglite'), { recursive: true });
    await expect(createDatabase({ dataDir: tmp.path, migrationsDir, embeddedStore: 'postgres' })).rejects.toThrow(/holds a PGlite store/);
  });
});

describe('running postgres as root', () => {
  it('maps root to an ordinary user in a user namespace, and says why when it cannot', () => {
    // Only root may map itself to another user (CI runs as root; the embedded tests above then ran this way).
    if (process.getuid!() === 0) {
      const [cmd, args] = postgresLauncher({ uid: 0 })('/bin/echo', ['x']);
      expect(cmd).toBe('unshare');
      expect(args).toEqual(expect.arrayContaining(['--user', '/bin/echo', 'x']));
    }
    // No unshare to be found, as in a slim container.
    expect(() => postgresLauncher({ uid: 0, unshare: '/nonexistent/unshare' })).toThrow(
      /does not run as root.*run FX as an ordinary user, or set DATABASE_URL/,
    );
    expect(postgresLauncher({ uid: 1000 })('/bin/echo', ['x'])).toEqual(['/bin/echo', ['x']]);
  });
});
