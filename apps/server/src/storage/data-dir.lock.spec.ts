import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tempDir, type TempDir } from '@fx/testing';
import { DataDirLock, DataDirLockedError } from './data-dir.lock.js';

let dir: TempDir;
beforeEach(async () => {
  dir = await tempDir('fx-lock');
});
afterEach(async () => {
  await dir.remove();
});

describe('DataDirLock', () => {
  it('refuses a second holder while the first lives, with a sentence naming it, and frees the directory on release', async () => {
    // the holder is another live process: write its lock as it would
    const holder = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)']);
    try {
      await writeFile(
        join(dir.path, 'server.lock'),
        JSON.stringify({ pid: holder.pid, host: (await import('node:os')).hostname(), since: '2026-12-02T00:00:00.000Z', url: 'http://127.0.0.1:8080' }),
      );
      const refused = await DataDirLock.acquire(dir.path).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(DataDirLockedError);
      expect((refused as Error).message).toMatch(
        new RegExp(`already running on the data directory .*pid ${holder.pid} at http://127\\.0\\.0\\.1:8080, since 2026-12-02`),
      );
    } finally {
      holder.kill('SIGKILL');
    }
  });

  it('takes over a lock whose process is gone, and removes only its own lock', async () => {
    const dead = spawn(process.execPath, ['-e', '0']);
    await new Promise((r) => dead.once('exit', r));
    await writeFile(join(dir.path, 'server.lock'), JSON.stringify({ pid: dead.pid, host: (await import('node:os')).hostname(), since: 'then' }));
    const lock = await DataDirLock.acquire(dir.path);
    await lock.noteUrl('http://127.0.0.1:9');
    expect(JSON.parse(await readFile(join(dir.path, 'server.lock'), 'utf8'))).toMatchObject({ pid: process.pid, url: 'http://127.0.0.1:9' });
    await lock.release();
    await expect(readFile(join(dir.path, 'server.lock'), 'utf8')).rejects.toThrow(/ENOENT/);
    const again = await DataDirLock.acquire(dir.path);
    await again.release();
  });

  it('treats an unreadable lock file as stale', async () => {
    await writeFile(join(dir.path, 'server.lock'), 'garbage');
    const lock = await DataDirLock.acquire(dir.path);
    await lock.release();
  });
});
