import { Inject, Injectable } from '@nestjs/common';
import { Prisma, type Endpoint } from '../../generated/prisma/client.js';
import { DATABASE } from '../../storage/storage.module.js';
import type { Database } from '../../storage/database.js';
import { withConflictRetry } from '../../common/conflict-retry.js';
import { modelSelect } from '../../storage/raw-rows.js';
import { inTurn } from '../../storage/name-lock.js';

/** Every submission reads its endpoints: one prepared statement, as findMany would answer it. */
const ENDPOINTS = `SELECT ${modelSelect(Prisma.EndpointScalarFieldEnum)} FROM endpoints`;

@Injectable()
export class EndpointsRepository {
  constructor(@Inject(DATABASE) private readonly db: Database) {}

  /**
   * Adds an endpoint once `check` accepted how many live ones the owner has (it throws to refuse), under a
   * lock on the owner's endpoints (lockName): concurrent registrations take turns, so none passes the
   * quota on a count that another's insert is about to make stale.
   */
  create(data: { ownerId: string; name: string; description: string | null; allowedFunctions: string[]; restricted: boolean }, check: (live: number) => void) {
    return inTurn(this.db, `endpoints/${data.ownerId}`, async (tx) => {
      check(await tx.endpoint.count({ where: { ownerId: data.ownerId, deletedAt: null } }));
      return tx.endpoint.create({ data });
    });
  }

  async findLive(id: string): Promise<Endpoint | null> {
    return (await this.db.sql.query<Endpoint>(`${ENDPOINTS} WHERE id = $1::uuid AND deleted_at IS NULL`, [id]))[0] ?? null;
  }

  /** The live endpoint of this name (unique per owner among live ones): of `ownerId`, or of the user named `ownerName`. */
  findLiveByName(owner: { ownerId: string } | { ownerName: string }, name: string) {
    return this.db.prisma.endpoint.findFirst({
      where: { ...('ownerId' in owner ? { ownerId: owner.ownerId } : { owner: { name: owner.ownerName } }), name, deletedAt: null },
    });
  }

  findManyLive(ids: string[]): Promise<Endpoint[]> {
    return this.db.sql.query<Endpoint>(`${ENDPOINTS} WHERE id = ANY($1::uuid[]) AND deleted_at IS NULL`, [ids]);
  }

  listVisible(userId: string, all: boolean) {
    return this.db.prisma.endpoint.findMany({ where: all ? { deletedAt: null } : { deletedAt: null, ownerId: userId }, orderBy: { createdAt: 'asc' } });
  }

  /** Live endpoints with their owners' names: all of them, only these ids, or only one owner's. */
  findLiveWithOwner(filter: { ids?: string[]; ownerId?: string }) {
    return this.db.prisma.endpoint.findMany({
      where: { deletedAt: null, ...(filter.ids ? { id: { in: filter.ids } } : {}), ...(filter.ownerId ? { ownerId: filter.ownerId } : {}) },
      include: { owner: { select: { name: true } } },
      orderBy: { createdAt: 'asc' },
    });
  }

  /** Owners of endpoints, deleted ones included (their tasks and their removal are still shown). */
  async findOwners(ids: string[]): Promise<Map<string, string>> {
    const rows = await this.db.prisma.endpoint.findMany({ where: { id: { in: ids } }, select: { id: true, ownerId: true } });
    return new Map(rows.map((r) => [r.id, r.ownerId]));
  }

  update(id: string, data: { description?: string | null; allowedFunctions?: string[]; restricted?: boolean }) {
    return this.db.prisma.endpoint.update({ where: { id }, data });
  }

  setLocked(id: string, locked: boolean) {
    return this.db.prisma.endpoint.update({ where: { id }, data: { lockedAt: locked ? new Date() : null } });
  }

  markConnected(id: string, agent: object) {
    const now = new Date();
    return this.db.prisma.endpoint.update({
      where: { id },
      data: { connectedAt: now, lastHeartbeatAt: now, disconnectedAt: null, agent: agent as Prisma.InputJsonValue },
    });
  }

  recordHeartbeat(id: string, status: object) {
    return this.db.prisma.endpoint.update({ where: { id }, data: { lastHeartbeatAt: new Date(), status: status as Prisma.InputJsonValue } });
  }

  /** Many heartbeats in one statement (see EndpointGateway.flushHeartbeats). */
  async recordHeartbeats(rows: Array<{ id: string; status: object }>): Promise<void> {
    if (rows.length === 0) return;
    await withConflictRetry(() =>
      this.db.prisma.$executeRawUnsafe(
        `UPDATE endpoints e SET last_heartbeat_at = now(), status = x.status
         FROM jsonb_to_recordset($1::jsonb) AS x(id uuid, status jsonb) WHERE e.id = x.id`,
        JSON.stringify(rows),
      ),
    );
  }

  /**
   * The agent connection `connectionId` went away. When another connection has taken over the endpoint
   * since (recorded by markConnected in `agent.connectionId`), the endpoint stays connected.
   */
  markDisconnected(id: string, connectionId?: string) {
    if (!connectionId) return this.db.prisma.endpoint.updateMany({ where: { id }, data: { disconnectedAt: new Date() } });
    return this.db.prisma.$executeRawUnsafe(
      `UPDATE endpoints SET disconnected_at = now()
       WHERE id = $1::uuid AND (agent IS NULL OR agent->>'connectionId' IS NULL OR agent->>'connectionId' = $2)`,
      id,
      connectionId,
    );
  }

  /** Its memberships of endpoint groups go with it (endpoint-groups). */
  async softDelete(id: string): Promise<void> {
    await this.db.prisma.$transaction([
      this.db.prisma.endpoint.update({ where: { id }, data: { deletedAt: new Date() } }),
      this.db.prisma.endpointGroupMember.deleteMany({ where: { endpointId: id } }),
    ]);
  }
}
