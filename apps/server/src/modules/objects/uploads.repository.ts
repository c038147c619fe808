import { Injectable } from '@nestjs/common';
import type { ObjectEncoding } from '@fx/protocol';
import { withConflictRetry } from '../../common/conflict-retry.js';
import { lockName } from '../../storage/name-lock.js';
import { isUniqueViolation } from '../../common/unique-violation.js';
import { SqlRepository } from '../../storage/sql.repository.js';
import type { RawRow } from '../../storage/raw-rows.js';
import type { ObjectUpload } from '../../generated/prisma/client.js';
import type { ObjectRow } from './objects.repository.js';

export type UploadRow = RawRow<
  ObjectUpload,
  | 'id'
  | 'owner_id'
  | 'task_id'
  | 'name'
  | 'encoding'
  | 'ttl_seconds'
  | 'size'
  | 'sha256'
  | 'offset_bytes'
  | 'created_at'
  | 'expires_at'
  | 'writer'
  | 'writer_until'
  | 'object_id'
  | 'speculative',
  { encoding: ObjectEncoding }
>;

export interface NewUpload {
  id: string;
  ownerId: string;
  taskId: string | null;
  /** The task's attempt that opens it (with taskId): what countForTask counts by. */
  attempt: number | null;
  /** Opened by the task's speculative copy (counted apart from the attempt it runs beside). */
  speculative: boolean;
  name: string | null;
  encoding: ObjectEncoding;
  ttlSeconds: number | null;
  size: number | null;
  sha256: string | null;
  /** How long it may stay open. */
  openSeconds: number;
}

/** What completing an upload makes: the object's row, pointing at the blob of its bytes. */
export interface NewObject {
  id: string;
  sha256: string;
  size: number;
  /** Seconds from now until it may be collected; null: kept until deleted. */
  expiresInSeconds: number | null;
}

/** The upload was completed, or collected, by someone else while this request worked on it. */
export class UploadGoneError extends Error {}

/**
 * The name holds an object that the upload may not replace (UploadsRepository.commit): one another
 * user's endpoint did not store (`foreign`), or the task's original attempt's output, which its
 * speculative copy does not replace (`original`).
 */
export class NameTakenError extends Error {
  constructor(
    readonly objectName: string,
    readonly holder: 'foreign' | 'original' = 'foreign',
  ) {
    super(`the name "${objectName}" is taken`);
  }
}

const OBJECT_COLUMNS = `id, owner_id, name, encoding, sha256, size, created_at, expires_at, deleted_at, task_id`;

/**
 * Resumable uploads (object_uploads) and the transaction that turns one into an object. One request at
 * a time writes to an upload, on whichever replica: it claims the row (writer, writer_until), keeps the
 * claim alive while it streams, and releases it with the new offset. A claim whose holder died simply
 * runs out, so nothing is ever stuck for longer than the claim's lifetime.
 */
@Injectable()
export class UploadsRepository extends SqlRepository {
  async create(u: NewUpload): Promise<UploadRow> {
    const rows = await this.query<UploadRow>(
      `INSERT INTO object_uploads (id, owner_id, task_id, name, encoding, ttl_seconds, size, sha256, expires_at, attempt, speculative)
       VALUES ($1::uuid, $2::uuid, $3::uuid, $4, $5, $6::int, $7::bigint, $8, now() + $9::int * interval '1 second', $10::int, $11::boolean)
       RETURNING *`,
      u.id,
      u.ownerId,
      u.taskId,
      u.name,
      u.encoding,
      u.ttlSeconds,
      u.size,
      u.sha256,
      u.openSeconds,
      u.attempt,
      u.speculative,
    );
    return rows[0]!;
  }

  /**
   * Uploads on record for this attempt of the task's outputs (its original run, or its speculative copy):
   * open, or completed or abandoned within FX_UPLOAD_TTL_SECONDS. An earlier attempt's (a lost lease, a
   * retry) are not this one's doing, nor are the copy's the original's, or the other way round.
   */
  async countForTask(taskId: string, attempt: number, speculative: boolean): Promise<number> {
    const rows = await this.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM object_uploads WHERE task_id = $1::uuid AND attempt = $2::int AND speculative = $3::boolean`,
      taskId,
      attempt,
      speculative,
    );
    return Number(rows[0]?.n ?? 0);
  }

  /** An upload that is still open. */
  async find(id: string): Promise<UploadRow | null> {
    const rows = await this.query<UploadRow>(`SELECT * FROM object_uploads WHERE id = $1::uuid AND expires_at > now()`, id);
    return rows[0] ?? null;
  }

  /**
   * Claims the upload for one writing request, when it is not completed, nobody holds it and (with
   * `offset`) it holds exactly that many bytes. Returns the row, or null when it is completed, held, or
   * at another offset.
   */
  async claim(id: string, writer: string, offset: number | null, ms: number): Promise<UploadRow | null> {
    const rows = await this.query<UploadRow>(
      `UPDATE object_uploads SET writer = $2::uuid, writer_until = now() + $4::int * interval '1 millisecond'
       WHERE id = $1::uuid AND expires_at > now() AND object_id IS NULL AND ($3::bigint IS NULL OR offset_bytes = $3::bigint)
         AND (writer IS NULL OR writer_until < now())
       RETURNING *`,
      id,
      writer,
      offset,
      ms,
    );
    return rows[0] ?? null;
  }

  /** The writing request is still alive. */
  async extendClaim(id: string, writer: string, ms: number): Promise<void> {
    await this.query(
      `UPDATE object_uploads SET writer_until = now() + $3::int * interval '1 millisecond' WHERE id = $1::uuid AND writer = $2::uuid RETURNING id`,
      id,
      writer,
      ms,
    );
  }

  /** Gives the claim up, recording the bytes now held (null: unchanged). Returns the row, or null when it is gone. */
  async release(id: string, writer: string, offset: number | null): Promise<UploadRow | null> {
    const rows = await this.query<UploadRow>(
      `UPDATE object_uploads SET writer = NULL, writer_until = NULL, offset_bytes = COALESCE($3::bigint, offset_bytes)
       WHERE id = $1::uuid AND writer = $2::uuid RETURNING *`,
      id,
      writer,
      offset,
    );
    return rows[0] ?? null;
  }

  async remove(id: string): Promise<void> {
    await this.query(`DELETE FROM object_uploads WHERE id = $1::uuid RETURNING id`, id);
  }

  /**
   * Turns a claimed upload into an object, in one transaction: locks the blob's row (creating it), makes
   * sure the blob is in the store (`ensureBlob`, run under that lock, so the collector cannot delete the
   * blob between the check and the commit), marks the upload completed as the object (its row stays,
   * without bytes, to answer a repeated complete until it expires), moves the name over from the owner's
   * object that had it (marked deleted), and inserts the object. Throws UploadGoneError when the upload
   * is no longer this writer's. `foreignEndpoint`: the upload is a named output stored by another user's
   * endpoint (a member of the owner's endpoint group), which may take a name only while it is free or
   * holds an output of a task that ran on that endpoint (or that its speculative copy stored there); otherwise
   * NameTakenError, and nothing changes. Nor does a speculative copy's upload take a name that holds
   * its task's original attempt's output.
   * The object keeps that endpoint's id: it fires only the owner's triggers that say `fromMembers`.
   */
  async commit(upload: UploadRow, writer: string, obj: NewObject, ensureBlob: () => Promise<void>, foreignEndpoint?: string): Promise<ObjectRow> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await withConflictRetry(() =>
          this.db.prisma.$transaction(
            async (tx) => {
              await tx.$executeRawUnsafe(
                `INSERT INTO object_blobs (sha256, size) VALUES ($1, $2::bigint) ON CONFLICT (sha256) DO UPDATE SET size = EXCLUDED.size`,
                obj.sha256,
                obj.size,
              );
              await ensureBlob();
              const mine = await tx.$queryRawUnsafe<unknown[]>(
                `UPDATE object_uploads SET object_id = $3::uuid, writer = NULL, writer_until = NULL
                 WHERE id = $1::uuid AND writer = $2::uuid AND object_id IS NULL RETURNING id`,
                upload.id,
                writer,
                obj.id,
              );
              if (mine.length === 0) throw new UploadGoneError(`upload ${upload.id} was completed or discarded meanwhile`);
              if (upload.name !== null) {
                // puts racing for one name take turns: otherwise each marks only the rows its snapshot saw
                await lockName(tx, `objects/${upload.owner_id}/${upload.name}`);
                if (foreignEndpoint) {
                  const held = await tx.$queryRawUnsafe<unknown[]>(
                    `SELECT 1 FROM objects o WHERE o.owner_id = $1::uuid AND o.name = $2 AND o.deleted_at IS NULL
                       AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.id = o.task_id AND t.endpoint_id = $3::uuid)
                       AND NOT (o.speculative AND EXISTS (SELECT 1 FROM task_copies c WHERE c.task_id = o.task_id AND c.endpoint_id = $3::uuid))`,
                    upload.owner_id,
                    upload.name,
                    foreignEndpoint,
                  );
                  if (held.length > 0) throw new NameTakenError(upload.name);
                }
                // A copy's output does not replace its original's: the original may yet report it as the
                // task's result, which must not have been deleted under it; the copy fails instead, and
                // the original decides (an original's output does replace its copy's, which fails then).
                if (upload.speculative) {
                  const original = await tx.$queryRawUnsafe<unknown[]>(
                    `SELECT 1 FROM objects o WHERE o.owner_id = $1::uuid AND o.name = $2 AND o.deleted_at IS NULL AND o.task_id = $3::uuid AND NOT o.speculative`,
                    upload.owner_id,
                    upload.name,
                    upload.task_id,
                  );
                  if (original.length > 0) throw new NameTakenError(upload.name, 'original');
                }
                await tx.$executeRawUnsafe(
                  `UPDATE objects SET deleted_at = now() WHERE owner_id = $1::uuid AND name = $2 AND deleted_at IS NULL`,
                  upload.owner_id,
                  upload.name,
                );
              }
              const rows = await tx.$queryRawUnsafe<ObjectRow[]>(
                `INSERT INTO objects (id, owner_id, name, encoding, sha256, size, created_at, expires_at, task_id, foreign_endpoint_id, speculative)
                 VALUES ($1::uuid, $2::uuid, $3, $4, $5, $6::bigint, now(),
                         CASE WHEN $7::int IS NULL THEN NULL ELSE now() + $7::int * interval '1 second' END, $8::uuid, $9::uuid, $10::boolean)
                 RETURNING ${OBJECT_COLUMNS}`,
                obj.id,
                upload.owner_id,
                upload.name,
                upload.encoding,
                obj.sha256,
                obj.size,
                obj.expiresInSeconds,
                upload.task_id,
                foreignEndpoint ?? null,
                upload.speculative,
              );
              return rows[0]!;
            },
            { maxWait: 30_000, timeout: 60_000 },
          ),
        );
      } catch (e) {
        // another upload took the same name at the same moment: take it over from that one
        if (isUniqueViolation(e) && attempt < 3) continue;
        throw e;
      }
    }
  }
}
