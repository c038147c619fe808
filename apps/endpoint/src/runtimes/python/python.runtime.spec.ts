import { existsSync } from 'node:fs';
import { PYTHON_WORKER } from './python.runtime.js';

// Finding the interpreter and what it reports: python.probe.spec.ts.
it('the python worker ships beside the agent, where the built module looks for it', () => {
  expect(existsSync(PYTHON_WORKER)).toBe(true);
  expect(PYTHON_WORKER).toMatch(/apps\/endpoint\/python\/fx_worker\.py$/);
});
