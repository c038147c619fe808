import { FunctionInfo, RegisterFunctionRequest } from './functions.js';

describe('RegisterFunctionRequest', () => {
  const python = { name: 'analyze', runtime: 'python', source: 'def main():\n    return 1\n' } as const;
  const issues = (body: unknown) => RegisterFunctionRequest.safeParse(body).error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`) ?? [];

  it('takes a python function with an entry point, and a shell function with failOnNonZeroExit', () => {
    expect(issues({ ...python, entrypoint: 'main' })).toEqual([]);
    expect(issues({ name: 'sh', runtime: 'shell', source: 'exit {code}', failOnNonZeroExit: true })).toEqual([]);
  });
  it('needs an entry point for python, a Python identifier', () => {
    expect(issues(python)).toEqual([expect.stringMatching(/^entrypoint: a python function needs an entrypoint/)]);
    for (const entrypoint of ['1main', 'main()', 'a.b', '', 'x y']) expect(issues({ ...python, entrypoint })[0]).toMatch(/^entrypoint: /);
  });
  it('refuses an entry point for other runtimes and failOnNonZeroExit outside shell', () => {
    expect(issues({ name: 'f', runtime: 'js', source: '() => 1', entrypoint: 'main' })).toEqual([
      'entrypoint: entrypoint applies to python functions only, not to js',
    ]);
    expect(issues({ ...python, entrypoint: 'main', failOnNonZeroExit: false })).toEqual([
      'failOnNonZeroExit: failOnNonZeroExit applies to shell functions only, not to python',
    ]);
  });
});

describe('FunctionInfo', () => {
  it('reads a function of an older server (no entrypoint, no failOnNonZeroExit) with their defaults', () => {
    const info = FunctionInfo.parse({
      id: '00000000-0000-4000-8000-000000000001',
      name: 'f',
      version: 1,
      runtime: 'js',
      source: '() => 1',
      description: null,
      walltimeSeconds: null,
      public: false,
      contentHash: 'x',
      ownerId: '00000000-0000-4000-8000-000000000002',
      createdAt: '2026-01-01T00:00:00.000Z',
    });
    expect(info).toMatchObject({ entrypoint: null, failOnNonZeroExit: false });
  });
});
