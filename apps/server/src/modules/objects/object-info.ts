import { z } from 'zod';
import type { ObjectInfo, ObjectRef, UploadInfo } from '@fx/protocol';
import { iso } from '../../common/iso.js';
import { FxException } from '../../common/fx.exception.js';
import type { ObjectRow } from './objects.repository.js';
import type { UploadRow } from './uploads.repository.js';

/** The reference to an object as it travels in arguments and outcomes, every field from the row. */
export function toObjectRef(o: Pick<ObjectRow, 'id' | 'sha256' | 'size' | 'encoding'>): ObjectRef {
  return { $fx: 'object', id: o.id, sha256: o.sha256, size: Number(o.size), encoding: o.encoding };
}

export function toObjectInfo(o: ObjectRow): ObjectInfo {
  return {
    id: o.id,
    ownerId: o.owner_id,
    name: o.name,
    sha256: o.sha256,
    size: Number(o.size),
    encoding: o.encoding,
    createdAt: iso(o.created_at)!,
    expiresAt: iso(o.expires_at),
    taskId: o.task_id,
    ref: toObjectRef(o),
  };
}

export function toUploadInfo(u: UploadRow): UploadInfo {
  return { uploadId: u.id, offset: Number(u.offset_bytes), size: u.size === null ? null : Number(u.size), expiresAt: iso(u.expires_at)! };
}

/** Cursors are opaque to clients: base64url of the last row's (created_at, id). */
export function encodeObjectCursor(o: Pick<ObjectRow, 'created_at' | 'id'>): string {
  return Buffer.from(JSON.stringify([new Date(o.created_at).toISOString(), o.id])).toString('base64url');
}

const CursorShape = z.tuple([z.iso.datetime(), z.uuid()]);
export function decodeObjectCursor(cursor: string): { createdAt: Date; id: string } {
  try {
    const [at, id] = CursorShape.parse(JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')));
    return { createdAt: new Date(at), id };
  } catch {
    throw new FxException('VALIDATION_FAILED', 'cursor is not one this server issued: pass the nextCursor of the previous page unchanged');
  }
}
