import type { ObjectInfo, ObjectRef, UploadInfo } from '@fx/protocol';
import { iso } from '../../common/iso.js';
import { decodeKeysetCursor, encodeKeysetCursor } from '../../common/keyset-cursor.js';
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

/** Objects are paged by (created_at, id). */
export function encodeObjectCursor(o: Pick<ObjectRow, 'created_at' | 'id'>): string {
  return encodeKeysetCursor(o.created_at, o.id);
}

export function decodeObjectCursor(cursor: string): { createdAt: Date; id: string } {
  const [createdAt, id] = decodeKeysetCursor(cursor);
  return { createdAt, id };
}
