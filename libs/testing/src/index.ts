export {
  cleanupRedisPrefix,
  createTestDatabase,
  randomPrefix,
  testDatabaseUrl,
  testRedisUrl,
  type TestDatabase,
} from './real-services.fixture.js';
export { tempDir, type TempDir } from './temp-dir.fixture.js';
export { collectOutput, exited, freePort, type ExitedOptions } from './process.fixture.js';
