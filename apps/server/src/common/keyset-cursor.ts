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
    throw new FxException('VALIDATION_FAILED', 'cursor is not one this server issued: pass the nextCursor of the previous page unchanged');
  }
}
