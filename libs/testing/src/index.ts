export { cleanupRedisPrefix, createTestDatabase, randomPrefix, testDatabaseUrl, testRedisUrl, type TestDatabase } from './real-services.fixture.js';
export { tempDir, type TempDir } from './temp-dir.fixture.js';
export { collectOutput, exited, freePort, type ExitedOptions } from './process.fixture.js';
export { eventually, sleep, type EventuallyOptions, type Settled } from './wait.fixture.js';
export { FX_ROOT, SERVER_MAIN, ENDPOINT_CLI } from './fx-paths.fixture.js';
export { ServerProcess, type Backend, type ServerInit, type ServerProcessOptions } from './server-process.fixture.js';
export { EndpointProcess, type AgentStartOptions, type ConfigureOptions, type EndpointProcessOptions, type ServerAddress } from './endpoint-process.fixture.js';
export { otherPython, type PythonInterpreter } from './python.fixture.js';
export { countingProxy, type CountingProxy } from './counting-proxy.fixture.js';
