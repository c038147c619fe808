import { Injectable } from '@nestjs/common';
import { withConflictRetry } from '../../common/conflict-retry.js';
import { SqlRepository } from '../../storage/sql.repository.js';
import { FINAL, json } from '../tasks/task-sql.js';

const shasIn = (param: string) => `(SELECT value FROM jsonb_array_elements_text(${param}::jsonb))`;

/**
 * The collector's statements. Each is safe to run on several replicas at once: rows are deleted by one
 * conditional statement (a row is deleted once), and blobs only under their row's lock.
 */
@Injectable()
export class ObjectsGcRepository extends SqlRepository {
  /**
   * Removes up to `limit` objects that were deleted or expired, that no task which can still run refers
   * to, and that are no retained task's result; with their task_objects rows. Returns their blobs' sha256.
   */
  async collectObjects(limit: number): Promise<string[]> {
    const rows = await this.query<{ sha256: string }>(
      `WITH gone AS (
         DELETE FROM objects WHERE id IN (
           SELECT o.id FROM objects o
           WHERE (o.deleted_at IS NOT NULL OR o.expires_at <= now())
             AND NOT EXISTS (SELECT 1 FROM task_objects r JOIN tasks t ON t.id = r.task_id WHERE r.object_id = o.id AND t.status NOT IN ${FINAL})
             AND NOT EXISTS (SELECT 1 FROM tasks t WHERE (t.result_ref ->> 'id')::uuid = o.id AND t.result_ref IS NOT NULL)
           LIMIT $1::int)
         RETURNING id, sha256),
       refs AS (DELETE FROM task_objects WHERE object_id IN (SELECT id FROM gone)),
       firings AS (DELETE FROM trigger_firings WHERE object_id IN (SELECT id FROM gone))
       SELECT DISTINCT sha256 FROM gone`,
      limit,
    );
    return rows.map((r) => r.sha256);
  }

  /**
   * Deletes the blobs that no object points at, among `candidates` (null: any, up to `limit`), in one
   * transaction: their rows are locked (rows a completing upload holds are skipped), checked again with
   * a fresh read (an object committed meanwhile keeps its blob), then `remove` deletes each file before
   * its row goes. Returns how many were deleted.
   */
  async deleteUnreferencedBlobs(candidates: string[] | null, limit: number, remove: (sha256: string) => Promise<void>): Promise<number> {
    return withConflictRetry(() =>
      this.db.prisma.$transaction(
        async (tx) => {
          const locked = await tx.$queryRawUnsafe<Array<{ sha256: string }>>(
            `SELECT b.sha256 FROM object_blobs b
             WHERE ($1::jsonb IS NULL OR b.sha256 IN ${shasIn('$1')})
               AND NOT EXISTS (SELECT 1 FROM objects o WHERE o.sha256 = b.sha256)
             ORDER BY b.sha256 LIMIT $2::int FOR UPDATE OF b SKIP LOCKED`,
            candidates ? json(candidates) : null,
            limit,
          );
          if (locked.length === 0) return 0;
          const unreferenced = await tx.$queryRawUnsafe<Array<{ sha256: string }>>(
            `SELECT s.value AS sha256 FROM jsonb_array_elements_text($1::jsonb) s
             WHERE NOT EXISTS (SELECT 1 FROM objects o WHERE o.sha256 = s.value)`,
            json(locked.map((r) => r.sha256)),
          );
          const doomed = unreferenced.map((r) => r.sha256);
          for (const sha of doomed) await remove(sha);
          if (doomed.length) await tx.$executeRawUnsafe(`DELETE FROM object_blobs WHERE sha256 IN ${shasIn('$1')}`, json(doomed));
          return doomed.length;
        },
        { maxWait: 30_000, timeout: 120_000 },
      ),
    );
  }

  /** Of these blob names, the ones with a row (files without one are debris of a crash). */
  async knownBlobs(shas: string[]): Promise<Set<string>> {
    const rows = await this.query<{ sha256: string }>(`SELECT sha256 FROM object_blobs WHERE sha256 IN ${shasIn('$1')}`, json(shas));
    return new Set(rows.map((r) => r.sha256));
  }

  /** Removes up to `limit` uploads past their expiry that nobody is writing to; returns their ids. */
  async expireUploads(limit: number): Promise<string[]> {
    const rows = await this.query<{ id: string }>(
      `DELETE FROM object_uploads WHERE id IN (
         SELECT id FROM object_uploads WHERE expires_at <= now() AND (writer IS NULL OR writer_until < now()) LIMIT $1::int)
         AND expires_at <= now() AND (writer IS NULL OR writer_until < now())
       RETURNING id`,
      limit,
    );
    return rows.map((r) => r.id);
  }

  /** Of these upload ids, the ones that still have a row. */
  async knownUploads(ids: string[]): Promise<Set<string>> {
    const rows = await this.query<{ id: string }>(
      `SELECT id FROM object_uploads WHERE id IN (SELECT value::uuid FROM jsonb_array_elements_text($1::jsonb))`,
      json(ids),
    );
    return new Set(rows.map((r) => r.id));
  }
}
