import { z } from 'zod';
import { FxException } from './fx.exception.js';

const CursorShape = z.tuple([z.iso.datetime(), z.uuid()]);

/** Keyset-paging cursors are opaque to clients: base64url of the last row's (timestamp, id). */
export function encodeKeysetCursor(at: Date | string, id: string): string {
  return Buffer.from(JSON.stringify([new Date(at).toISOString(), id])).toString('base64url');
}

/** The (timestamp, id) an {@link encodeKeysetCursor} cursor names; anything else is refused with a sentence. */
export function decodeKeysetCursor(cursor: string): [at: Date, id: string] {
  try {
    const [at, id] = CursorShape.parse(JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')));
    return [new Date(at), id];
  } catch {
    throw notIssued();
  }
}

/** A list paged by a version number, newest first (a function name's versions): the cursor is the last one's. */
export function encodeVersionCursor(version: number): string {
  return Buffer.from(JSON.stringify({ below: version })).toString('base64url');
}

/** The version an {@link encodeVersionCursor} cursor names; anything else is refused as decodeKeysetCursor refuses it. */
export function decodeVersionCursor(cursor: string): number {
  let below: unknown;
  try {
    below = (JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { below?: unknown }).below;
  } catch {
    throw notIssued();
  }
  if (typeof below !== 'number' || !Number.isSafeInteger(below) || below <= 0) throw notIssued();
  return below;
}

const notIssued = () => new FxException('VALIDATION_FAILED', 'cursor is not one this server issued: pass the nextCursor of the previous page unchanged');
