import { CliError } from '@fx/cli-kit';
import { checkTaskId, endpointRef, functionRef, isUuid } from './resolve.js';

const A = '11111111-1111-4111-8111-111111111111';

describe('function and endpoint refs', () => {
  it('passes ids and names to the server as they are', () => {
    for (const ref of [A, 'add', 'add@2', 'alice/add', 'alice/add@10']) expect(functionRef(ref)).toBe(ref);
    for (const ref of [A, 'gpu', 'alice/gpu']) expect(endpointRef(ref)).toBe(ref);
  });

  it('refuses, as a usage error, what is neither an id nor a name', () => {
    for (const ref of ['add@0', 'add@x', 'a/b/c', 'has space', '-x']) {
      expect(() => functionRef(ref)).toThrow(
        expect.objectContaining({ exitCode: 2, message: expect.stringMatching(/is neither a function id nor a function name/) }),
      );
    }
    expect(() => endpointRef('gpu@1')).toThrow(/is neither an endpoint \(or endpoint group\) id nor a name/);
  });

  it('task ids must be UUIDs (a usage error otherwise)', () => {
    expect(isUuid(A)).toBe(true);
    expect(checkTaskId(A)).toBe(A);
    expect(() => checkTaskId('add')).toThrow(CliError);
  });
});
