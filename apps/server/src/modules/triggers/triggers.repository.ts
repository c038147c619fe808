import { Injectable } from '@nestjs/common';
import { inTurn } from '../../storage/name-lock.js';
import { SqlRepository } from '../../storage/sql.repository.js';
import type { RawRow } from '../../storage/raw-rows.js';
import type { Trigger } from '../../generated/prisma/client.js';

export type TriggerRow = RawRow<Trigger, 'id' | 'owner_id' | 'prefix' | 'function_id' | 'endpoint_id' | 'output_prefix' | 'from_members' | 'created_at'> & {
  fired: number;
};

/** An object a trigger has not fired for yet, with what the firing needs of the trigger. */
export type PendingFiring = RawRow<Trigger, 'owner_id' | 'prefix' | 'function_id' | 'endpoint_id' | 'output_prefix' | 'from_members'> & {
  trigger_id: string;
  object_id: string;
  name: string;
  /** The object is a named output that this endpoint of another user (a group member) stored. */
  foreign_endpoint_id: string | null;
};

/** How far before its mark a sweep looks again: far longer than any transaction that inserts an object. */
const SWEEP_GRACE_SECONDS = 300;

const COLUMNS = `t.id, t.owner_id, t.prefix, t.function_id, t.endpoint_id, t.output_prefix, t.from_members, t.created_at,
  (SELECT count(*)::int FROM trigger_firings f WHERE f.trigger_id = t.id) AS fired`;

/** Triggers and their firings. The objects a trigger fires for are read from `objects` (modules/objects). */
@Injectable()
export class TriggersRepository extends SqlRepository {
  /**
   * Adds a trigger once `check` accepted the owner's live triggers (at most `upTo` of them, oldest
   * first): it throws to refuse. Under a lock on the owner's triggers (lockName), so that concurrent
   * requests take turns: each checks the quota and the loops against the others' triggers too.
   */
  async create(
    t: { id: string; ownerId: string; prefix: string; functionId: string; endpointId: string; outputPrefix: string | null; fromMembers: boolean },
    upTo: number,
    check: (mine: TriggerRow[]) => void,
  ): Promise<TriggerRow> {
    await inTurn(this.db, `triggers/${t.ownerId}`, async (tx) => {
      check(
        await tx.$queryRawUnsafe<TriggerRow[]>(
          `SELECT ${COLUMNS} FROM triggers t WHERE t.deleted_at IS NULL AND t.owner_id = $1::uuid ORDER BY t.created_at, t.id LIMIT $2::int`,
          t.ownerId,
          upTo,
        ),
      );
      await tx.$executeRawUnsafe(
        `INSERT INTO triggers (id, owner_id, prefix, function_id, endpoint_id, output_prefix, from_members) VALUES ($1::uuid, $2::uuid, $3, $4::uuid, $5::uuid, $6, $7)`,
        t.id,
        t.ownerId,
        t.prefix,
        t.functionId,
        t.endpointId,
        t.outputPrefix,
        t.fromMembers,
      );
    });
    return (await this.find(t.id))!;
  }

  async find(id: string): Promise<TriggerRow | null> {
    const rows = await this.query<TriggerRow>(`SELECT ${COLUMNS} FROM triggers t WHERE t.id = $1::uuid AND t.deleted_at IS NULL`, id);
    return rows[0] ?? null;
  }

  /** A user's live triggers (every user's, for `ownerId` null), oldest first. At most `limit`. */
  list(ownerId: string | null, limit: number): Promise<TriggerRow[]> {
    return this.query<TriggerRow>(
      `SELECT ${COLUMNS} FROM triggers t WHERE t.deleted_at IS NULL AND ($1::uuid IS NULL OR t.owner_id = $1::uuid) ORDER BY t.created_at, t.id LIMIT $2::int`,
      ownerId,
      limit,
    );
  }

  async softDelete(id: string): Promise<void> {
    await this.query(`UPDATE triggers SET deleted_at = now() WHERE id = $1::uuid AND deleted_at IS NULL`, id);
  }

  /**
   * Named live objects under a live trigger's prefix, of the trigger's owner, put after the trigger was
   * made (and after its sweep mark, less a grace), with no firing yet: what the triggers still owe.
   *
   * Fair across owners: the page deals the owed firings out in turns, every owner's oldest, then every
   * owner's second, and so on, up to `limit` in all; so a user with a backlog of thousands delays
   * another's firing by at most the page a sweep has under way, not by the backlog, and a lone user's
   * backlog still goes `limit` a page. It reads what the single oldest-first page read before (the
   * objects put since each trigger's mark) and sorts them by owner to number each owner's firings (a
   * window function). A LATERAL per trigger with its own LIMIT would read less of a backlog, but
   * PostgreSQL may plan its anti-join on trigger_firings as a scan of all the trigger's firings for each
   * object (seen with a prepared plan cached while the tables were small: 300 ms a page for 2,000
   * objects, where this form takes 10 ms).
   */
  pending(limit: number): Promise<PendingFiring[]> {
    return this.query<PendingFiring>(
      `WITH owed AS (
         SELECT t.id AS trigger_id, o.id AS object_id, o.name, o.foreign_endpoint_id, o.created_at AS object_created_at,
                t.owner_id, t.prefix, t.function_id, t.endpoint_id, t.output_prefix, t.from_members,
                row_number() OVER (PARTITION BY t.owner_id ORDER BY o.created_at, o.id, t.id) AS turn
         FROM triggers t
         JOIN objects o ON o.owner_id = t.owner_id AND o.name IS NOT NULL AND starts_with(o.name, t.prefix)
                       AND o.created_at >= greatest(t.created_at, t.swept_until - make_interval(secs => $2::int)) AND o.deleted_at IS NULL
         WHERE t.deleted_at IS NULL
           AND NOT EXISTS (SELECT 1 FROM trigger_firings f WHERE f.trigger_id = t.id AND f.object_id = o.id)
       )
       SELECT trigger_id, object_id, name, foreign_endpoint_id, owner_id, prefix, function_id, endpoint_id, output_prefix, from_members
       FROM owed
       ORDER BY turn, object_created_at, object_id, trigger_id LIMIT $1::int`,
      limit,
      SWEEP_GRACE_SECONDS,
    );
  }

  /**
   * Everything put before `until` has fired (the sweep found nothing owed): later sweeps start there,
   * less SWEEP_GRACE_SECONDS for an object whose commit lagged its created_at.
   */
  async sweptUntil(until: Date): Promise<void> {
    await this.query(
      `UPDATE triggers SET swept_until = $1::timestamptz WHERE deleted_at IS NULL AND (swept_until IS NULL OR swept_until < $1::timestamptz)`,
      until,
    );
  }

  /** Records a firing; a second record of the same pair (another replica, a repeat after a crash) changes nothing. */
  async recordFiring(f: { triggerId: string; objectId: string; taskId: string | null; error: string | null }): Promise<void> {
    await this.query(
      `INSERT INTO trigger_firings (trigger_id, object_id, task_id, error) VALUES ($1::uuid, $2::uuid, $3::uuid, $4) ON CONFLICT DO NOTHING`,
      f.triggerId,
      f.objectId,
      f.taskId,
      f.error,
    );
  }
}
