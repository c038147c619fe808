// The fault-injection suite (`npm run test:faults`): whole-system scenarios that kill processes and
// restart the real local PostgreSQL and Redis. Not part of `npm test`, and never to be run while
// other tests use the same PostgreSQL or Redis: it restarts both and runs one real FLUSHALL.
import base from '../../jest.config.js';

const e2e = base.projects.find((p) => p.displayName === 'e2e');
export default {
  ...e2e,
  rootDir: '../..',
  displayName: 'faults',
  testMatch: ['<rootDir>/test/faults/**/*.fault.ts'],
  testTimeout: 600_000,
};
