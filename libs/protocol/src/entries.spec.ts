import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

describe('the main entry', () => {
  it('reaches no Node API (the console bundles it for the browser); those live behind @fx/protocol/node', () => {
    const here = dirname(fileURLToPath(import.meta.url));
    const seen = new Set<string>();
    const nodeImports: string[] = [];
    const visit = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      for (const m of readFileSync(file, 'utf8').matchAll(/(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]/g)) {
        const spec = m[1]!;
        if (spec.startsWith('node:')) nodeImports.push(`${file.slice(here.length + 1)} -> ${spec}`);
        else if (spec.startsWith('.')) visit(resolve(dirname(file), spec.replace(/\.js$/, '.ts')));
      }
    };
    visit(join(here, 'index.ts'));
    expect(nodeImports).toEqual([]);
    expect(seen.has(join(here, 'content-hash.ts'))).toBe(false);
  });
});
