// One jest for the whole workspace, in ESM (NestJS 12 is ESM-only). Workspace libraries are mapped to
// their sources so unit tests need no build; end-to-end tests spawn the built server and fx-endpoint.
const swc = [
  '@swc/jest',
  {
    jsc: {
      parser: { syntax: 'typescript', decorators: true },
      transform: { legacyDecorator: true, decoratorMetadata: true },
      target: 'es2022',
    },
    module: { type: 'es6' },
  },
];
const common = {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: {
    '^@fx/protocol$': '<rootDir>/libs/protocol/src/index.ts',
    '^@fx/protocol/node$': '<rootDir>/libs/protocol/src/node.ts',
    '^@fx/sdk$': '<rootDir>/libs/sdk/src/index.ts',
    '^@fx/testing$': '<rootDir>/libs/testing/src/index.ts',
    '^@fx/cli-kit$': '<rootDir>/libs/cli-kit/src/index.ts',
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
  transform: { '^.+\\.ts$': swc },
  rootDir: '.',
};
export default {
  projects: [
    {
      ...common,
      displayName: 'unit',
      testMatch: ['<rootDir>/apps/*/src/**/*.spec.ts', '<rootDir>/libs/*/src/**/*.spec.ts', '<rootDir>/test/architecture/**/*.spec.ts'],
    },
    {
      ...common,
      displayName: 'e2e',
      testMatch: ['<rootDir>/test/e2e/**/*.e2e.ts', '<rootDir>/test/slurm/**/*.e2e.ts', '<rootDir>/apps/console/test/**/*.e2e.ts'],
      testTimeout: 180_000,
    },
    {
      ...common,
      displayName: 'security',
      testMatch: ['<rootDir>/test/security/**/*.security.ts'],
      testTimeout: 180_000,
    },
  ],
};
