import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tempDir, type TempDir } from '@fx/testing';
import { tailFile } from './process.control.js';

describe('tailFile', () => {
  let tmp: TempDir;
  let dir: string;
  beforeAll(async () => {
    tmp = await tempDir('fx-tail');
    dir = tmp.path;
  });
  afterAll(() => tmp.remove());

  it("shows a long log's last lines, whole, from a read of its end only", async () => {
    const path = join(dir, 'agent.log');
    const filler = Array.from({ length: 40_000 }, (_, i) => `filler line ${i} ${'x'.repeat(40)}`).join('\n');
    await writeFile(path, `${filler}\nfirst of the end\nsecond of the end\nlast of the end\n`);
    expect(await tailFile(path, 3)).toBe('first of the end\nsecond of the end\nlast of the end');
    // more lines asked than the read's window holds: what it holds, no partial first line
    const shown = (await tailFile(path, 100_000)).split('\n');
    expect(shown.length).toBeLessThan(40_000);
    expect(shown[0]).toMatch(/^filler line \d+ x{40}$/);
    expect(shown.at(-1)).toBe('last of the end');
  });

  it('shows all of a short log, and nothing for one that is not there', async () => {
    const path = join(dir, 'short.log');
    await writeFile(path, 'one\ntwo\n');
    expect(await tailFile(path)).toBe('one\ntwo');
    expect(await tailFile(join(dir, 'absent.log'))).toBe('');
  });
});
