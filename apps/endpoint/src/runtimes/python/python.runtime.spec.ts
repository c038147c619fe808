import { existsSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { PYTHON_WORKER, locatePython } from './python.runtime.js';

describe('locatePython', () => {
  it('finds the real interpreter behind a name on PATH (a pyenv shim, say), its version and where it lives', async () => {
    const found = await locatePython('python3');
    expect(isAbsolute(found.executable) && existsSync(found.executable)).toBe(true);
    expect(found.version).toMatch(/^3\.\d+\.\d+/);
    expect(found.prefixes.length).toBeGreaterThan(0);
    for (const prefix of found.prefixes) expect(isAbsolute(prefix)).toBe(true);
  });

  it('says why a setting is not a usable interpreter', async () => {
    await expect(locatePython('/nonexistent/python3')).rejects.toThrow('no such program');
    await expect(locatePython('/bin/echo')).rejects.toThrow(/did not answer like a Python interpreter/);
  });
});

it('the python worker ships beside the agent, where the built module looks for it', () => {
  expect(existsSync(PYTHON_WORKER)).toBe(true);
  expect(PYTHON_WORKER).toMatch(/apps\/endpoint\/python\/fx_worker\.py$/);
});
