import { Injectable } from '@nestjs/common';
import { inTurn } from '../../storage/name-lock.js';
import { SqlRepository } from '../../storage/sql.repository.js';
import type { RawRow } from '../../storage/raw-rows.js';
import type { Endpoint, EndpointGroup, EndpointGroupMember } from '../../generated/prisma/client.js';
import { idsIn, json } from '../tasks/task-sql.js';

export type GroupRow = RawRow<EndpointGroup, 'id' | 'owner_id' | 'name' | 'created_at'>;

/** A member with what its group's owner may see of its endpoint (null columns: gone or never there). */
export type MemberRow = RawRow<EndpointGroupMember, 'group_id' | 'endpoint_id' | 'state' | 'added_at'> & {
  endpoint_name: string | null;
  endpoint_owner_id: string | null;
} & Pick<Partial<RawRow<Endpoint, 'connected_at' | 'disconnected_at' | 'last_heartbeat_at'>>, 'connected_at' | 'disconnected_at' | 'last_heartbeat_at'>;

export type InvitationRow = {
  group_id: string;
  group_name: string;
  owner_id: string;
  owner_name: string | null;
  endpoint_id: string;
  endpoint_name: string;
  added_at: Date;
};

/** Endpoint groups and their members (who may route to whom). Tasks moving between members: endpoint-routing.repository.ts. */
@Injectable()
export class EndpointGroupsRepository extends SqlRepository {
  /** Adds a group once `check` accepted how many live ones the owner has (it throws to refuse), in turn with the owner's other creates (inTurn). */
  async create(g: { id: string; ownerId: string; name: string }, check: (live: number) => void): Promise<void> {
    await inTurn(this.db, `endpoint-groups/${g.ownerId}`, async (tx) => {
      const [row] = await tx.$queryRawUnsafe<Array<{ n: number }>>(
        `SELECT count(*)::int AS n FROM endpoint_groups WHERE owner_id = $1::uuid AND deleted_at IS NULL`,
        g.ownerId,
      );
      check(row?.n ?? 0);
      await tx.$executeRawUnsafe(`INSERT INTO endpoint_groups (id, owner_id, name) VALUES ($1::uuid, $2::uuid, $3)`, g.id, g.ownerId, g.name);
    });
  }

  async findLive(id: string): Promise<GroupRow | null> {
    const rows = await this.query<GroupRow>(`SELECT id, owner_id, name, created_at FROM endpoint_groups WHERE id = $1::uuid AND deleted_at IS NULL`, id);
    return rows[0] ?? null;
  }

  async findLiveByName(ownerId: string, name: string): Promise<GroupRow | null> {
    const rows = await this.query<GroupRow>(
      `SELECT id, owner_id, name, created_at FROM endpoint_groups WHERE owner_id = $1::uuid AND name = $2 AND deleted_at IS NULL`,
      ownerId,
      name,
    );
    return rows[0] ?? null;
  }

  /** A user's live groups, oldest first (at most `limit`). */
  list(ownerId: string, limit: number): Promise<GroupRow[]> {
    return this.query<GroupRow>(
      `SELECT id, owner_id, name, created_at FROM endpoint_groups WHERE owner_id = $1::uuid AND deleted_at IS NULL ORDER BY created_at, id LIMIT $2::int`,
      ownerId,
      limit,
    );
  }

  /** Its members go with it; tasks already sent to it stay with the members chosen for them. */
  async softDelete(id: string): Promise<void> {
    await this.exec(`UPDATE endpoint_groups SET deleted_at = now() WHERE id = $1::uuid AND deleted_at IS NULL`, id);
    await this.exec(`DELETE FROM endpoint_group_members WHERE group_id = $1::uuid`, id);
  }

  /** Members of these groups, with their endpoints' names, owners and connection columns (live endpoints only). */
  members(groupIds: string[]): Promise<MemberRow[]> {
    if (groupIds.length === 0) return Promise.resolve([]);
    return this.query<MemberRow>(
      `SELECT m.group_id, m.endpoint_id, m.state, m.added_at, e.name AS endpoint_name, e.owner_id AS endpoint_owner_id,
              e.connected_at, e.disconnected_at, e.last_heartbeat_at
       FROM endpoint_group_members m LEFT JOIN endpoints e ON e.id = m.endpoint_id AND e.deleted_at IS NULL
       WHERE m.group_id IN ${idsIn('$1')}
       ORDER BY m.added_at, m.endpoint_id`,
      json(groupIds),
    );
  }

  async countMembers(groupId: string): Promise<number> {
    const [row] = await this.query<{ n: number }>(`SELECT count(*)::int AS n FROM endpoint_group_members WHERE group_id = $1::uuid`, groupId);
    return row?.n ?? 0;
  }

  /** Adds the member unless it is there already (an active member stays active). */
  async addMember(groupId: string, endpointId: string, state: 'active' | 'invited'): Promise<void> {
    await this.exec(
      `INSERT INTO endpoint_group_members (group_id, endpoint_id, state) VALUES ($1::uuid, $2::uuid, $3) ON CONFLICT DO NOTHING`,
      groupId,
      endpointId,
      state,
    );
  }

  /** Whether there was such a member. */
  async removeMember(groupId: string, endpointId: string): Promise<boolean> {
    return (await this.exec(`DELETE FROM endpoint_group_members WHERE group_id = $1::uuid AND endpoint_id = $2::uuid`, groupId, endpointId)) > 0;
  }

  /** An invitation of a live group becomes a membership; false when there was none. */
  async accept(groupId: string, endpointId: string): Promise<boolean> {
    const n = await this.exec(
      `UPDATE endpoint_group_members m SET state = 'active'
       FROM endpoint_groups g WHERE g.id = m.group_id AND g.deleted_at IS NULL
         AND m.group_id = $1::uuid AND m.endpoint_id = $2::uuid AND m.state = 'invited'`,
      groupId,
      endpointId,
    );
    return n > 0;
  }

  /** The membership of an endpoint in a live group, if any. */
  async membership(groupId: string, endpointId: string): Promise<{ state: string } | null> {
    const rows = await this.query<{ state: string }>(
      `SELECT m.state FROM endpoint_group_members m JOIN endpoint_groups g ON g.id = m.group_id AND g.deleted_at IS NULL
       WHERE m.group_id = $1::uuid AND m.endpoint_id = $2::uuid`,
      groupId,
      endpointId,
    );
    return rows[0] ?? null;
  }

  /** Invitations of the live endpoints of `ownerId` into live groups, oldest first. */
  invitations(ownerId: string, limit: number): Promise<InvitationRow[]> {
    return this.query<InvitationRow>(
      `SELECT m.group_id, g.name AS group_name, g.owner_id, u.name AS owner_name, m.endpoint_id, e.name AS endpoint_name, m.added_at
       FROM endpoint_group_members m
       JOIN endpoint_groups g ON g.id = m.group_id AND g.deleted_at IS NULL
       JOIN endpoints e ON e.id = m.endpoint_id AND e.deleted_at IS NULL AND e.owner_id = $1::uuid
       LEFT JOIN users u ON u.id = g.owner_id
       WHERE m.state = 'invited'
       ORDER BY m.added_at, m.group_id LIMIT $2::int`,
      ownerId,
      limit,
    );
  }
}
