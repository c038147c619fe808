#!/usr/bin/env node
// Runs every jest project (unit, storage suites on both backends, end-to-end), then the Python SDK's
// pytest suite (libs/sdk-python/tests, against a real server and agent), and prints the closing line
// CI reads: `N passed, N failed`, both runners counted. Extra arguments go to jest; with any, pytest
// runs only when asked for as a project (`--selectProjects pytest`, alone or beside jest projects).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const work = mkdtempSync(join(tmpdir(), 'fx-jest-'));

/** Takes `pytest` out of `--selectProjects`; says whether to run jest (with what) and pytest. */
function plan(argv) {
  if (argv.length === 0) return { jestArgs: [], jest: true, pytest: true };
  const jestArgs = [];
  let pytest = false;
  let jest = true;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] !== '--selectProjects') {
      jestArgs.push(argv[i]);
      continue;
    }
    const names = [];
    while (i + 1 < argv.length && !argv[i + 1].startsWith('-')) names.push(argv[++i]);
    const others = names.filter((n) => n !== 'pytest');
    pytest ||= others.length < names.length;
    if (others.length > 0) jestArgs.push('--selectProjects', ...others);
    else if (names.length > 0) jest = false;
    else jestArgs.push('--selectProjects');
  }
  return { jestArgs, jest, pytest };
}

function runJest(args) {
  const out = join(work, 'results.json');
  const run = spawnSync(
    process.execPath,
    [
      '--experimental-vm-modules',
      '--disable-warning=ExperimentalWarning',
      join(root, 'node_modules/jest/bin/jest.js'),
      '--runInBand',
      '--json',
      `--outputFile=${out}`,
      ...args,
    ],
    { cwd: root, stdio: 'inherit' },
  );
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
  return { passed, failed, ok: failed === 0 && run.status === 0 };
}

/** pytest's counts from its JUnit XML: every <testsuite> element's tests, failures, errors and skipped. */
function junitCounts(xml) {
  const counts = { tests: 0, failures: 0, errors: 0, skipped: 0 };
  for (const [, attrs] of xml.matchAll(/<testsuite\s([^>]*)>/g)) {
    for (const key of Object.keys(counts)) {
      const m = new RegExp(`\\b${key}="(\\d+)"`).exec(attrs);
      if (m) counts[key] += Number(m[1]);
    }
  }
  return counts;
}

function runPytest() {
  const xml = join(work, 'pytest.xml');
  const run = spawnSync('python3', ['-m', 'pytest', 'libs/sdk-python/tests', '-p', 'no:cacheprovider', `--junitxml=${xml}`], { cwd: root, stdio: 'inherit' });
  if (run.error) console.error(`could not run python3 -m pytest: ${run.error.message}`);
  // no report (python3 or pytest missing, a crash) counts as a failure, never as nothing to run
  if (!existsSync(xml)) return { passed: 0, failed: 1, ok: false };
  const c = junitCounts(readFileSync(xml, 'utf8'));
  if (c.skipped) console.error(`${c.skipped} pytest tests were skipped: skipping is a defect here`);
  let failed = c.failures + c.errors + c.skipped;
  if (run.status !== 0 && failed === 0) failed = 1; // exit 5: no tests collected, or an internal error
  return { passed: c.tests - c.failures - c.errors - c.skipped, failed, ok: failed === 0 && run.status === 0 };
}

const { jestArgs, jest, pytest } = plan(process.argv.slice(2));
const results = [];
if (jest) results.push(runJest(jestArgs));
if (pytest) results.push(runPytest());
const passed = results.reduce((n, r) => n + r.passed, 0);
const failed = results.reduce((n, r) => n + r.failed, 0);
const summary = `${passed} passed, ${failed} failed`;
console.log(summary);
if (process.env.FX_TEST_SUMMARY_FILE) writeFileSync(process.env.FX_TEST_SUMMARY_FILE, summary + '\n');
process.exit(failed === 0 && results.every((r) => r.ok) ? 0 : 1);
