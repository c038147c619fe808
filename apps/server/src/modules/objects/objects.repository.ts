import { Injectable } from '@nestjs/common';
import type { ObjectEncoding } from '@fx/protocol';
import { SqlRepository } from '../../storage/sql.repository.js';
import type { RawRow } from '../../storage/raw-rows.js';
import type { StoredObject, Task } from '../../generated/prisma/client.js';
import { HELD, idsIn, json, stillMember } from '../tasks/task-sql.js';
import { COPY_SENT } from '../speculation/copies.repository.js';

export type ObjectRow = RawRow<
  StoredObject,
  'id' | 'owner_id' | 'name' | 'encoding' | 'sha256' | 'size' | 'created_at' | 'expires_at' | 'deleted_at' | 'task_id',
  { encoding: ObjectEncoding }
>;

/**
 * A task an endpoint runs now (dispatched or running there): its original attempt, or its speculative
 * copy (`speculative`), whose attempt number is the original's.
 */
export type LeasedTask = RawRow<Task, 'id' | 'owner_id' | 'output_name' | 'attempt'> & { speculative: boolean };

const COLUMNS = `o.id, o.owner_id, o.name, o.encoding, o.sha256, o.size, o.created_at, o.expires_at, o.deleted_at, o.task_id`;
/** An object a user sees: not deleted, and not past its expiry. */
const LIVE = `o.deleted_at IS NULL AND (o.expires_at IS NULL OR o.expires_at > now())`;

/**
 * Object rows and who may read them. The tasks table is only read here (which tasks are leased to an
 * endpoint, and which objects they refer to through task_objects).
 */
@Injectable()
export class ObjectsRepository extends SqlRepository {
  /** An object that is not deleted, of this owner (null: any owner, for admins). Expired ones too: they are readable until collected. */
  async findVisible(id: string, ownerId: string | null): Promise<ObjectRow | null> {
    const rows = await this.query<ObjectRow>(
      `SELECT ${COLUMNS} FROM objects o WHERE o.id = $1::uuid AND o.deleted_at IS NULL AND ($2::uuid IS NULL OR o.owner_id = $2::uuid)`,
      id,
      ownerId,
    );
    return rows[0] ?? null;
  }

  /**
   * An object an endpoint may read: one that a task leased to it refers to (even when deleted since: the
   * task was accepted with it, and it is not collected while the task can run), or whose speculative copy
   * it was sent (as long as the copy has not ended), or one its owner owns.
   */
  async findForEndpoint(id: string, endpointId: string, ownerId: string): Promise<ObjectRow | null> {
    const rows = await this.query<ObjectRow>(
      `SELECT ${COLUMNS} FROM objects o
       WHERE o.id = $1::uuid
         AND ((o.owner_id = $3::uuid AND o.deleted_at IS NULL)
              OR EXISTS (SELECT 1 FROM task_objects r JOIN tasks t ON t.id = r.task_id
                         WHERE r.object_id = o.id AND t.endpoint_id = $2::uuid AND t.status IN ${HELD})
              OR EXISTS (SELECT 1 FROM task_objects r JOIN task_copies c ON c.task_id = r.task_id JOIN tasks t ON t.id = r.task_id
                         WHERE r.object_id = o.id AND c.endpoint_id = $2::uuid AND c.status IN ${COPY_SENT} AND t.status IN ${HELD}))`,
      id,
      endpointId,
      ownerId,
    );
    return rows[0] ?? null;
  }

  /** Live objects of an owner, newest first, keyset-paged on (created_at, id). */
  list(ownerId: string, f: { prefix?: string; name?: string; before?: { createdAt: Date; id: string }; limit: number }): Promise<ObjectRow[]> {
    return this.query<ObjectRow>(
      `SELECT ${COLUMNS} FROM objects o
       WHERE o.owner_id = $1::uuid AND ${LIVE}
         AND ($2::text IS NULL OR starts_with(o.name, $2::text))
         AND ($3::text IS NULL OR o.name = $3::text)
         AND ($4::timestamptz IS NULL OR (o.created_at, o.id) < ($4::timestamptz, $5::uuid))
       ORDER BY o.created_at DESC, o.id DESC LIMIT $6::int`,
      ownerId,
      f.prefix ?? null,
      f.name ?? null,
      f.before?.createdAt ?? null,
      f.before?.id ?? null,
      f.limit,
    );
  }

  /**
   * What counts against an owner's quota: the sizes of their live objects, and of their open uploads
   * (the declared size, or the bytes held so far when none was declared; a completed one is its object),
   * leaving one upload out.
   */
  async usage(ownerId: string, exceptUploadId: string | null = null): Promise<{ bytes: number; openUploads: number }> {
    const rows = await this.query<{ objects: unknown; uploads: unknown; open: number }>(
      `SELECT (SELECT COALESCE(sum(o.size), 0) FROM objects o WHERE o.owner_id = $1::uuid AND ${LIVE})::float8 AS objects,
              (SELECT COALESCE(sum(GREATEST(COALESCE(u.size, 0), u.offset_bytes)), 0) FROM object_uploads u
                 WHERE u.owner_id = $1::uuid AND u.expires_at > now() AND u.object_id IS NULL AND ($2::uuid IS NULL OR u.id <> $2::uuid))::float8 AS uploads,
              (SELECT count(*)::int FROM object_uploads u WHERE u.owner_id = $1::uuid AND u.expires_at > now() AND u.object_id IS NULL) AS open`,
      ownerId,
      exceptUploadId,
    );
    const r = rows[0]!;
    return { bytes: Number(r.objects) + Number(r.uploads), openUploads: Number(r.open) };
  }

  /** Marks an object deleted (of this owner; null: any). Returns false when there was none to delete. */
  /** Marks a live object deleted; returns what it was (null when there was none the caller may delete). */
  async markDeleted(id: string, ownerId: string | null): Promise<Pick<ObjectRow, 'owner_id' | 'name' | 'sha256' | 'size'> | null> {
    const rows = await this.query<Pick<ObjectRow, 'owner_id' | 'name' | 'sha256' | 'size'>>(
      `UPDATE objects SET deleted_at = now() WHERE id = $1::uuid AND deleted_at IS NULL AND ($2::uuid IS NULL OR owner_id = $2::uuid)
       RETURNING owner_id::text AS owner_id, name, sha256, size`,
      id,
      ownerId,
    );
    return rows[0] ?? null;
  }

  /** Of these ids, the live objects of this owner (null: any owner), for completing references at submit. */
  findLive(ids: string[], ownerId: string | null): Promise<ObjectRow[]> {
    return this.query<ObjectRow>(
      `SELECT ${COLUMNS} FROM objects o WHERE o.id IN ${idsIn('$1')} AND ${LIVE} AND ($2::uuid IS NULL OR o.owner_id = $2::uuid)`,
      json(ids),
      ownerId,
    );
  }

  /**
   * Of these ids, the objects that are not deleted, with the owners of the tasks they hold the output of
   * and whether a speculative copy of the task stored them.
   */
  findTaskOutputs(ids: string[]): Promise<Array<ObjectRow & { task_owner_id: string | null; speculative: boolean }>> {
    return this.query(
      `SELECT ${COLUMNS}, t.owner_id AS task_owner_id, o.speculative FROM objects o LEFT JOIN tasks t ON t.id = o.task_id
       WHERE o.id IN ${idsIn('$1')} AND o.deleted_at IS NULL`,
      json(ids),
    );
  }

  /**
   * The task if this endpoint runs it now: its original attempt is leased here, or its speculative copy
   * was sent here and has not ended; either only while the task is held and the endpoint is still a
   * member of its group. An original given up beside its copy (no lease owner) is not run here any more.
   * An endpoint running both (a copy placed on the task's own endpoint) is taken for the original's.
   */
  async findLeasedTask(taskId: string, endpointId: string): Promise<LeasedTask | null> {
    const rows = await this.query<LeasedTask>(
      `SELECT t.id, t.owner_id, t.output_name, t.attempt, false AS speculative FROM tasks t
       WHERE t.id = $1::uuid AND t.endpoint_id = $2::uuid AND t.status IN ${HELD} AND t.lease_owner IS NOT NULL AND ${stillMember('t', '$2::uuid')}
       UNION ALL
       SELECT t.id, t.owner_id, t.output_name, t.attempt, true AS speculative FROM tasks t JOIN task_copies c ON c.task_id = t.id
       WHERE t.id = $1::uuid AND c.endpoint_id = $2::uuid AND c.status IN ${COPY_SENT} AND t.status IN ${HELD}
         AND ${stillMember('t', '$2::uuid')}
       ORDER BY speculative LIMIT 1`,
      taskId,
      endpointId,
    );
    return rows[0] ?? null;
  }
}
