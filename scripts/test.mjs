#!/usr/bin/env node
// Runs every jest project (unit, storage suites on both backends, end-to-end) and prints the
// closing line CI reads: `N passed, N failed`. Extra arguments go to jest.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(mkdtempSync(join(tmpdir(), 'fx-jest-')), 'results.json');
const args = [
  '--experimental-vm-modules',
  '--disable-warning=ExperimentalWarning',
  join(root, 'node_modules/jest/bin/jest.js'),
  '--runInBand',
  '--json',
  `--outputFile=${out}`,
  ...process.argv.slice(2),
];
const run = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
let passed = 0;
let failed = 1; // until a report says otherwise
if (existsSync(out)) {
  const report = JSON.parse(readFileSync(out, 'utf8'));
  passed = report.numPassedTests;
  failed = report.numFailedTests + report.numRuntimeErrorTestSuites;
  if (report.numPendingTests || report.numTodoTests) {
    console.error(`${report.numPendingTests + report.numTodoTests} tests were skipped: skipping is a defect here`);
    failed += report.numPendingTests + report.numTodoTests;
  }
}
if (run.status !== 0 && failed === 0) failed = 1;
const summary = `${passed} passed, ${failed} failed`;
console.log(summary);
if (process.env.FX_TEST_SUMMARY_FILE) writeFileSync(process.env.FX_TEST_SUMMARY_FILE, summary + '\n');
process.exit(failed === 0 && run.status === 0 ? 0 : 1);
