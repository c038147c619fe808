import { readFile, writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import type { ObjectEncoding, RemoteError } from '@fx/protocol';
import { setAt, type ObjectPlacement } from '../../objects/object.placement.js';

/** A result written to a file for the agent to store as an object: `file` is its name in the worker's directory. */
export interface FileResult {
  ok: true;
  file: string;
  encoding: ObjectEncoding;
  size: number;
}

/** Thrown while loading a task's objects: the task fails OBJECT_UNAVAILABLE with this sentence. */
export class ObjectLoadError extends Error {
  readonly code = 'OBJECT_UNAVAILABLE' as const;
  constructor(message: string) {
    super(message);
    this.name = 'ObjectUnavailable';
  }
}

/**
 * Puts each object's content where its reference was: a Buffer for `bytes`, the parsed value for `json`.
 * The content is read from the file the agent prepared (never sent over the worker's link), once per file; a
 * reference used twice gets two values (two Buffers, two parses), as two copies of the data would.
 */
export async function loadObjects(args: unknown[], kwargs: Record<string, unknown>, placements: ObjectPlacement[] = []): Promise<void> {
  const read = new Map<string, Buffer>();
  for (const p of placements) {
    const seen = read.get(p.file);
    const data = seen ?? (await readContent(p));
    read.set(p.file, data);
    const bytes = seen ? Buffer.from(data) : data;
    setAt({ args, kwargs }, p.at, p.encoding === 'bytes' ? bytes : parseJson(p, data));
  }
}

async function readContent(p: ObjectPlacement): Promise<Buffer> {
  try {
    return await readFile(p.file);
  } catch (error) {
    throw new ObjectLoadError(`object ${p.id} could not be read from ${p.file}: ${(error as Error).message}`);
  }
}

function parseJson(p: ObjectPlacement, data: Buffer): unknown {
  try {
    return JSON.parse(data.toString('utf8')) as unknown;
  } catch (error) {
    throw new ObjectLoadError(`object ${p.id} is stored as json but is not valid JSON: ${(error as Error).message}`);
  }
}

/** Whether a function's return value is bytes (a Buffer, any typed array, an ArrayBuffer). */
export function isBytes(value: unknown): value is ArrayBufferView | ArrayBuffer {
  return ArrayBuffer.isView(value) || value instanceof ArrayBuffer;
}

function asBuffer(value: ArrayBufferView | ArrayBuffer): Buffer {
  return value instanceof ArrayBuffer ? Buffer.from(value) : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}

/** Where a result may go as a file, and when it must. */
export interface ResultFileOptions {
  /** The file to write (in the worker's own directory). */
  path: string;
  /** JSON larger than this goes to the file. */
  inlineResultBytes: number;
  /** Every result goes to the file (a task with outputName). */
  always: boolean;
  /** Larger results fail RESULT_TOO_LARGE. */
  maxBytes: number;
}

/** Writes bytes or JSON text as the task's result file; a RemoteError when it is too large or cannot be written. */
export async function writeResultFile(
  content: ArrayBufferView | ArrayBuffer | string,
  options: ResultFileOptions,
): Promise<FileResult | { ok: false; error: RemoteError }> {
  const data = typeof content === 'string' ? Buffer.from(content, 'utf8') : asBuffer(content);
  const encoding: ObjectEncoding = typeof content === 'string' ? 'json' : 'bytes';
  if (data.length > options.maxBytes) {
    return {
      ok: false,
      error: {
        code: 'RESULT_TOO_LARGE',
        name: 'ResultTooLarge',
        message: `the result is ${data.length} bytes, more than the ${options.maxBytes} bytes this endpoint stores`,
      },
    };
  }
  try {
    await writeFile(options.path, data, { mode: 0o600 });
  } catch (error) {
    return {
      ok: false,
      error: { code: 'OBJECT_UNAVAILABLE', name: 'ObjectUnavailable', message: `the result could not be written: ${(error as Error).message}` },
    };
  }
  return { ok: true, file: basename(options.path), encoding, size: data.length };
}
