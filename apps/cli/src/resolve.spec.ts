import { CliError } from './cli.errors.js';
import { checkTaskId, isUuid, pickByName } from './resolve.js';

const ME = '99999999-9999-4999-8999-999999999999';
const fn = (id: string, name: string, createdAt: string, ownerId = ME) => ({ id, name, createdAt, ownerId });
const A = '11111111-1111-4111-8111-111111111111';
const B = '22222222-2222-4222-8222-222222222222';

describe('resolving names', () => {
  it('matches a name exactly', () => {
    expect(pickByName('function', 'add', [fn(A, 'add', '2026-01-01'), fn(B, 'adder', '2026-01-02')]).id).toBe(A);
  });

  it('says when nothing matches, and when several do (newest first)', () => {
    expect(() => pickByName('endpoint', 'gpu', [fn(A, 'GPU', '2026-01-01')])).toThrow('no endpoint is named "gpu" (see "fx endpoints"), and it is not an endpoint id');
    expect(() => pickByName('function', 'add', [fn(A, 'add', '2026-01-01'), fn(B, 'add', '2026-01-02')])).toThrow(`2 functions are named "add" (newest first: ${B}, ${A}); pass one of these ids`);
  });

  it('prefers the caller\'s own when others\' (public, or all for an admin) share the name', () => {
    const others = fn(B, 'add', '2026-01-02', '88888888-8888-4888-8888-888888888888');
    expect(pickByName('function', 'add', [fn(A, 'add', '2026-01-01'), others], ME).id).toBe(A);
    // None of them mine: still ambiguous.
    expect(() => pickByName('function', 'add', [fn(A, 'add', '2026-01-01', 'x'), others], ME)).toThrow(/2 functions are named "add"/);
  });

  it('task ids must be UUIDs (a usage error otherwise)', () => {
    expect(isUuid(A)).toBe(true);
    expect(checkTaskId(A)).toBe(A);
    expect(() => checkTaskId('add')).toThrow(CliError);
  });
});
