import { DEFAULT_LIMITS, ErrorCode } from './common.js';
import { TaskSpec } from './endpoint.js';
import { BatchTaskItem, SubmitBatchRequest, SubmitTaskRequest, TaskInfo, TaskResultEntry } from './rest.js';
import { PickledValue } from './serializers.js';

const ID = '00000000-0000-4000-8000-000000000001';
const pickled = { $fx: 'pickle', python: '3.11', pickler: 'cloudpickle', data: 'gASVCgAAAAAAAACMBmhlbGxvlC4=' } as const;
const issues = (schema: { safeParse(v: unknown): { error?: { issues: Array<{ path: PropertyKey[]; message: string }> } } }, body: unknown) =>
  schema.safeParse(body).error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`) ?? [];

describe('PickledValue', () => {
  it('takes a tagged pickle of a Python major.minor by cloudpickle or pickle', () => {
    expect(issues(PickledValue, pickled)).toEqual([]);
    expect(issues(PickledValue, { ...pickled, python: '3.9', pickler: 'pickle', data: '' })).toEqual([]);
  });
  it('refuses another tag, a version that is not major.minor, another pickler, data that is not base64, extra keys', () => {
    expect(issues(PickledValue, { ...pickled, $fx: 'json' })[0]).toMatch(/^\$fx: /);
    for (const python of ['3', '3.11.2', 'py3.11', '', 3.11]) expect(issues(PickledValue, { ...pickled, python })[0]).toMatch(/^python: /);
    expect(issues(PickledValue, { ...pickled, pickler: 'dill' })[0]).toMatch(/^pickler: /);
    expect(issues(PickledValue, { ...pickled, data: 'not base64!' })[0]).toMatch(/^data: /);
    expect(issues(PickledValue, { ...pickled, extra: 1 })).toEqual([expect.stringMatching(/Unrecognized key/)]);
  });
  it('is bounded by the request limit, like JSON arguments', () => {
    const over = 'A'.repeat(DEFAULT_LIMITS.maxRequestBytes + 4);
    expect(issues(PickledValue, { ...pickled, data: over })[0]).toMatch(/^data: /);
  });
});

describe('serializer of a submission', () => {
  const task = { functionId: 'stats', endpointId: 'local' };
  it('defaults to json: args and kwargs, no pickledArgs', () => {
    expect(issues(SubmitTaskRequest, { ...task, args: [1], kwargs: { a: 2 } })).toEqual([]);
    expect(issues(SubmitTaskRequest, { ...task, serializer: 'json', args: [1] })).toEqual([]);
  });
  it('with pickle, carries the arguments in pickledArgs alone', () => {
    expect(issues(SubmitTaskRequest, { ...task, serializer: 'pickle', pickledArgs: pickled })).toEqual([]);
    expect(issues(SubmitTaskRequest, { ...task, serializer: 'pickle', pickledArgs: pickled, args: [], kwargs: {} })).toEqual([]);
    expect(issues(SubmitTaskRequest, { ...task, serializer: 'pickle' })).toEqual([
      expect.stringMatching(/^pickledArgs: serializer "pickle" needs pickledArgs/),
    ]);
    expect(issues(SubmitTaskRequest, { ...task, serializer: 'pickle', pickledArgs: pickled, args: [1] })).toEqual([
      'args: with serializer "pickle" the arguments travel in pickledArgs: args and kwargs must be empty',
    ]);
    expect(issues(SubmitTaskRequest, { ...task, serializer: 'pickle', pickledArgs: pickled, kwargs: { a: 1 } })[0]).toMatch(/^args: /);
  });
  it('refuses pickledArgs without serializer pickle, and an unknown serializer', () => {
    expect(issues(SubmitTaskRequest, { ...task, pickledArgs: pickled })).toEqual([
      'pickledArgs: pickledArgs applies to serializer "pickle" only; set serializer: "pickle"',
    ]);
    expect(issues(SubmitTaskRequest, { ...task, serializer: 'json', pickledArgs: pickled })[0]).toMatch(/^pickledArgs: /);
    expect(issues(SubmitTaskRequest, { ...task, serializer: 'dill' })[0]).toMatch(/^serializer: /);
  });
  it('applies per item of a batch', () => {
    expect(issues(BatchTaskItem, { functionId: 'stats', serializer: 'pickle', pickledArgs: pickled })).toEqual([]);
    const batch = {
      endpointId: 'local',
      tasks: [
        { functionId: 'stats', args: [1] },
        { functionId: 'stats', serializer: 'pickle' },
      ],
    };
    expect(issues(SubmitBatchRequest, batch)).toEqual([expect.stringMatching(/^tasks\.1\.pickledArgs: /)]);
  });
});

describe('what the server sends back', () => {
  it('a task says its serializer (json for rows written before there was one) and a result entry names pickle', () => {
    const info = {
      id: ID,
      functionId: ID,
      endpointId: ID,
      batchId: null,
      ownerId: ID,
      status: 'success',
      attempt: 0,
      args: [],
      kwargs: {},
      error: null,
      timeline: { receivedAt: '2026-01-01T00:00:00.000Z', waitingAt: null, dispatchedAt: null, runningAt: null, completedAt: null },
    };
    expect(TaskInfo.parse(info).serializer).toBe('json');
    expect(TaskInfo.parse({ ...info, serializer: 'pickle', pickledArgs: pickled }).pickledArgs).toEqual(pickled);
    expect(TaskResultEntry.parse({ taskId: ID, status: 'success', attempt: 0, result: pickled, serializer: 'pickle' }).serializer).toBe('pickle');
  });
  it('an agent takes pickled arguments with a task, and SERIALIZER_MISMATCH is a task failure code', () => {
    const fn = { id: ID, runtime: 'python', source: 'def f(x):\n    return x\n', entrypoint: 'f', contentHash: 'h' };
    const spec = TaskSpec.parse({ taskId: ID, attempt: 0, function: fn, args: [], kwargs: {}, pickledArgs: pickled });
    expect(spec.pickledArgs).toEqual(pickled);
    expect(() => TaskSpec.parse({ taskId: ID, attempt: 0, function: fn, args: [], kwargs: {}, pickledArgs: { ...pickled, python: 'x' } })).toThrow();
    expect(ErrorCode.parse('SERIALIZER_MISMATCH')).toBe('SERIALIZER_MISMATCH');
  });
});
