// ESLint for the whole repository (`npm run lint`, run by .ci/run). typescript-eslint's recommended
// rules, plus the dependency rules of the Nx tags as import restrictions: they back the hand-written
// test/architecture boundary test, which also catches relative paths that climb into another project.
import js from '@eslint/js';
import globals from 'globals';
import reactHooks from 'eslint-plugin-react-hooks';
import tseslint from 'typescript-eslint';

const otherApps = (self) =>
  ['@fx/server', '@fx/endpoint', 'fx-endpoint', 'fx-cli', '@fx/console', '@fx/bench']
    .filter((n) => n !== self)
    .map((name) => ({ name, message: 'apps never import other apps' }));

/** `no-restricted-imports` for one project: the packages of ours it may not import. */
const boundary = (files, paths, patterns = []) => ({ files, rules: { 'no-restricted-imports': ['error', { paths, patterns }] } });

export default tseslint.config(
  {
    ignores: [
      '**/dist/**',
      '**/node_modules/**',
      'apps/server/src/generated/**',
      'test-artifacts/**',
      'bench/results/**',
      'tools/stubs/**',
      '.nx/**',
      'coverage/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node }, ecmaVersion: 2023, sourceType: 'module' },
    rules: {
      // Unused arguments named _x are deliberate (interface shapes, callbacks).
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none', ignoreRestSiblings: true }],
      // Empty catch blocks that say why are fine; empty functions as no-op callbacks too.
      'no-empty': ['error', { allowEmptyCatch: true }],
      '@typescript-eslint/no-empty-function': 'off',
    },
  },
  {
    files: ['apps/console/src/**/*.{ts,tsx}'],
    languageOptions: { globals: { ...globals.browser } },
    plugins: { 'react-hooks': reactHooks },
    rules: { 'react-hooks/rules-of-hooks': 'error', 'react-hooks/exhaustive-deps': 'warn' },
  },
  {
    // Tests and test fixtures may use `any` for responses they pick apart.
    files: ['**/*.spec.ts', '**/*.e2e.ts', '**/*.security.ts', 'test/**/*.ts', '**/testing/**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
      // Tests look for terminal escapes on purpose (no colour codes in log files).
      'no-control-regex': 'off',
    },
  },
  boundary(['libs/protocol/src/**'], [], [{ group: ['@fx/*', 'fx-endpoint'], message: 'libs/protocol imports nothing of ours' }]),
  boundary(['libs/sdk/src/**'], [], [{ group: ['@fx/*', '!@fx/protocol', '!@fx/protocol/*', 'fx-endpoint'], message: 'libs/sdk imports only libs/protocol' }]),
  boundary(
    ['libs/testing/src/**'],
    [],
    [{ group: ['@fx/*', '!@fx/protocol', '!@fx/protocol/*', 'fx-endpoint'], message: 'libs/testing imports only libs/protocol' }],
  ),
  boundary(['libs/cli-kit/src/**'], [], [{ group: ['@fx/*', 'fx-endpoint'], message: 'libs/cli-kit imports nothing of ours' }]),
  boundary(['apps/server/**'], otherApps('@fx/server')),
  boundary(['apps/endpoint/**'], otherApps('fx-endpoint')),
  boundary(['apps/cli/**'], otherApps('fx-cli')),
  boundary(['apps/console/src/**'], otherApps('@fx/console'), [{ group: ['@fx/sdk', '@fx/testing'], message: 'the console imports only libs/protocol' }]),
  // Its browser test drives a real server and agent, with the SDK and the shared fixtures.
  boundary(['apps/console/test/**'], otherApps('@fx/console')),
);
