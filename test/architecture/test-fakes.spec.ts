import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';

/**
 * Test fakes (src/testing/: a fake FX server, an in-process test server) and specs never ship: no
 * package's build compiles them into its dist. Asks TypeScript which files each build config takes.
 */
const root = resolve(dirname(new URL(import.meta.url).pathname), '../..');
const { workspaces } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { workspaces: string[] };
// @fx/testing is the test library itself: its whole dist is fixtures, used only by tests and the benchmark.
const builds = workspaces.filter((w) => w !== 'libs/testing' && existsSync(join(root, w, 'tsconfig.build.json')));

function compiledFiles(workspace: string): string[] {
  const config = join(root, workspace, 'tsconfig.build.json');
  const host = {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (d: ts.Diagnostic) => {
      throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n'));
    },
  };
  const parsed = ts.getParsedCommandLineOfConfigFile(config, {}, host);
  if (!parsed) throw new Error(`cannot read ${config}`);
  return parsed.fileNames.map((f) => relative(join(root, workspace), f));
}

describe('test fakes stay out of every build', () => {
  it('finds the builds to check', () => {
    expect(builds).toEqual(expect.arrayContaining(['apps/server', 'apps/endpoint', 'libs/sdk']));
  });

  it.each(builds)('%s compiles no src/testing file and no spec', (workspace) => {
    const files = compiledFiles(workspace);
    expect(files.length).toBeGreaterThan(0);
    expect(files.filter((f) => /(^|\/)testing\/|\.(spec|test)\.ts$/.test(f))).toEqual([]);
  });
});
