import { Readable } from 'node:stream';
import { scanRefs, type ObjectInfo } from '@fx/protocol';
import { SerializationError, ValidationError } from './errors.js';
import { sourceOf } from './object-upload.js';
import { encodeArgs } from './task-ref.js';

const id = '0f8fad5b-d9cb-469f-a165-70867728950e';
const sha256 = 'a'.repeat(64);
const ref = { $fx: 'object' as const, id, sha256, size: 3, encoding: 'bytes' as const };
const info: ObjectInfo = {
  id,
  ownerId: '7c9e6679-7425-40de-944b-e07fc1f90ae7',
  name: 'input/a.bin',
  sha256,
  size: 3,
  encoding: 'bytes',
  createdAt: '2026-12-16T00:00:00.000Z',
  expiresAt: null,
  taskId: null,
  ref,
};

describe('object references in task arguments', () => {
  it('sends an ObjectRef as it is and an ObjectInfo as its ref, at any depth, and the server reads them as object refs', () => {
    const args = encodeArgs([ref, { input: [info] }, { $fx: 'object', id }]);
    expect(args).toEqual([ref, { input: [ref] }, { $fx: 'object', id }]);
    expect(scanRefs(args, 'args').objects.map((o) => o.id)).toEqual([id, id, id]);
  });

  it("escapes a user's own value with a $fx key, even one that says object but is no reference", () => {
    const args = encodeArgs([{ $fx: 'object', note: 'mine' }, { $fx: 'kept' }, { $fx: 'object', id: 'not-a-uuid' }]);
    expect(args).toEqual([{ $$fx: 'object', note: 'mine' }, { $$fx: 'kept' }, { $$fx: 'object', id: 'not-a-uuid' }]);
    expect(scanRefs(args, 'args')).toMatchObject({ objects: [], escaped: true });
  });

  it('leaves an object that merely has ownerId and ref fields alone unless its ref is its own', () => {
    const lookalike = { ownerId: 'x', id: 'other', ref };
    expect(encodeArgs([lookalike])).toEqual([{ ownerId: 'x', id: 'other', ref }]);
  });
});

describe('what put stores', () => {
  it('stores bytes as bytes and any other value as its JSON', () => {
    expect(sourceOf(Buffer.from('abc'), undefined)).toMatchObject({ kind: 'bytes', encoding: 'bytes' });
    expect(sourceOf(new Uint8Array([1, 2]).buffer, undefined)).toMatchObject({ kind: 'bytes', encoding: 'bytes' });
    const json = sourceOf({ a: [1, 'x'] }, undefined);
    expect(json).toMatchObject({ kind: 'bytes', encoding: 'json' });
    expect(Buffer.from((json as { bytes: Uint8Array }).bytes).toString()).toBe('{"a":[1,"x"]}');
    expect(sourceOf('text', undefined)).toMatchObject({ encoding: 'json' });
    expect(Buffer.from((sourceOf('text', 'bytes') as { bytes: Uint8Array }).bytes).toString()).toBe('text');
  });

  it('streams Node Readables, web ReadableStreams and async iterables', () => {
    expect(sourceOf(Readable.from([Buffer.from('a')]), undefined)).toMatchObject({ kind: 'stream', encoding: 'bytes' });
    expect(sourceOf(new ReadableStream(), 'json')).toMatchObject({ kind: 'stream', encoding: 'json' });
    expect(sourceOf((async function* () {})(), undefined)).toMatchObject({ kind: 'stream' });
  });

  it('refuses what JSON cannot carry, and non-bytes under encoding bytes', () => {
    expect(() => sourceOf({ n: NaN }, undefined)).toThrow(SerializationError);
    expect(() => sourceOf({ a: 1 }, 'bytes')).toThrow(ValidationError);
  });
});
