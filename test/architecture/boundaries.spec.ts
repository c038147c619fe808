import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative, resolve, dirname } from 'node:path';

/**
 * Enforces the dependency rules written as Nx tags in each package.json: apps never import other
 * apps, libs/protocol imports nothing of ours, libs/sdk and libs/testing import only libs/protocol.
 * Reads every import in every source file, so a relative path that climbs into another project is
 * caught as well as a package import.
 */
const root = resolve(dirname(new URL(import.meta.url).pathname), '../..');
const rootPkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { workspaces: string[] };

interface Project {
  dir: string;
  name: string;
  tags: string[];
}
const projects: Project[] = rootPkg.workspaces.map((dir) => {
  const pkg = JSON.parse(readFileSync(join(root, dir, 'package.json'), 'utf8'));
  return { dir, name: pkg.name, tags: pkg.nx?.tags ?? [] };
});
const byName = new Map(projects.map((p) => [p.name, p]));

/** Which tags a project with this tag may depend on. */
const RULES: Record<string, string[]> = {
  'scope:protocol': [],
  'scope:sdk': ['scope:protocol'],
  'scope:testing': ['scope:protocol'],
  'scope:cli-kit': [],
  'scope:server': ['scope:protocol', 'scope:testing'],
  'scope:endpoint': ['scope:protocol', 'scope:testing', 'scope:cli-kit'],
  'scope:console': ['scope:protocol'],
  'scope:bench': ['scope:protocol', 'scope:sdk', 'scope:testing'],
  'scope:cli': ['scope:protocol', 'scope:sdk', 'scope:cli-kit'],
};

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir)) {
    if (entry === 'node_modules' || entry === 'dist' || entry === 'generated') continue;
    const full = join(dir, entry);
    if (statSync(full).isDirectory()) out.push(...sources(full));
    else if (/\.(ts|tsx|mts|js|mjs)$/.test(entry)) out.push(full);
  }
  return out;
}

const IMPORT = /(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|require\(\s*['"]([^'"]+)['"]\s*\)/g;

function importsIn(p: Project, file: string, text: string): Array<{ file: string; target: Project }> {
  const found: Array<{ file: string; target: Project }> = [];
  const projectRoot = join(root, p.dir);
  for (const m of text.matchAll(IMPORT)) {
    const spec = m[1] ?? m[2] ?? m[3]!;
    let target: Project | undefined;
    if (spec.startsWith('.')) {
      const abs = resolve(dirname(file), spec);
      if (!abs.startsWith(projectRoot + '/'))
        target = projects.find((q) => abs.startsWith(join(root, q.dir) + '/')) ?? { dir: relative(root, abs), name: spec, tags: ['outside'] };
    } else {
      const pkgName = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!;
      target = byName.get(pkgName);
    }
    if (target && target !== p) found.push({ file: relative(root, file), target });
  }
  return found;
}

function violations(p: Project, deps: Array<{ file: string; target: Project }>): string[] {
  const allowed = RULES[p.tags.find((t) => t.startsWith('scope:'))!]!;
  return deps
    .filter(({ target }) => {
      const targetScope = target.tags.find((t) => t.startsWith('scope:'));
      if (p.tags.includes('type:app') && target.tags.includes('type:app')) return true;
      return !targetScope || !allowed.includes(targetScope);
    })
    .map(({ file, target }) => `${file} -> ${target.name}`);
}

const dependenciesOf = (p: Project) => sources(join(root, p.dir, 'src')).flatMap((f) => importsIn(p, f, readFileSync(f, 'utf8')));

describe('project boundaries (Nx tags)', () => {
  it('every project has a type and a scope tag with a rule', () => {
    for (const p of projects) {
      expect(p.tags.some((t) => t.startsWith('type:'))).toBe(true);
      const scope = p.tags.find((t) => t.startsWith('scope:'));
      expect(scope && scope in RULES).toBe(true);
    }
  });

  it.each(projects.map((p) => [p.name, p] as const))('%s imports only what its tags allow', (_name, p) => {
    expect(violations(p, dependenciesOf(p))).toEqual([]);
  });

  it('catches package and relative imports that cross a boundary', () => {
    const sdk = projects.find((p) => p.name === '@fx/sdk')!;
    const endpoint = projects.find((p) => p.name === 'fx-endpoint')!;
    const sdkFile = join(root, sdk.dir, 'src/probe.ts');
    expect(violations(sdk, importsIn(sdk, sdkFile, `import { x } from '@fx/protocol';\nimport { y } from '@fx/server';`))).toEqual([
      'libs/sdk/src/probe.ts -> @fx/server',
    ]);
    const epFile = join(root, endpoint.dir, 'src/probe.ts');
    expect(violations(endpoint, importsIn(endpoint, epFile, `const m = await import('../../server/src/main.js');`))).toEqual([
      'apps/endpoint/src/probe.ts -> @fx/server',
    ]);
  });
});
