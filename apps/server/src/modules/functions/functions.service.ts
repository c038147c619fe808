import { Injectable } from '@nestjs/common';
import { shellTemplateProblem, type FunctionInfo, type RegisterFunctionRequest } from '@fx/protocol';
import { FxException } from '../../common/fx.exception.js';
import type { Principal } from '../auth/principal.js';
import { FunctionsRepository } from './functions.repository.js';
import { functionContentHash } from './content-hash.js';

type FunctionRow = NonNullable<Awaited<ReturnType<FunctionsRepository['findLive']>>>;

export const toFunctionInfo = (f: FunctionRow): FunctionInfo => ({
  id: f.id,
  name: f.name,
  runtime: f.runtime === 'shell' || f.runtime === 'mpi' ? f.runtime : 'js',
  source: f.source,
  description: f.description,
  walltimeSeconds: f.walltimeSeconds,
  public: f.public,
  contentHash: f.contentHash,
  ownerId: f.ownerId,
  createdAt: f.createdAt.toISOString(),
});

@Injectable()
export class FunctionsService {
  constructor(private readonly functions: FunctionsRepository) {}

  async register(p: Principal, req: RegisterFunctionRequest): Promise<FunctionInfo> {
    if (req.runtime === 'shell' || req.runtime === 'mpi') {
      const problem = shellTemplateProblem(req.source);
      if (problem) throw new FxException('VALIDATION_FAILED', problem);
    }
    const row = await this.functions.create({
      ownerId: p.userId,
      name: req.name,
      runtime: req.runtime,
      source: req.source,
      description: req.description ?? null,
      walltimeSeconds: req.walltimeSeconds ?? null,
      public: req.public ?? false,
      contentHash: functionContentHash(req.runtime, req.source),
    });
    return toFunctionInfo(row);
  }

  /** A function the caller may see and run: their own, a public one, or any for an admin. */
  async getVisible(p: Principal, id: string): Promise<FunctionRow> {
    const f = await this.functions.findLive(id);
    if (!f || !(f.ownerId === p.userId || f.public || p.admin)) throw FxException.notFound('function', id);
    return f;
  }

  async get(p: Principal, id: string): Promise<FunctionInfo> {
    return toFunctionInfo(await this.getVisible(p, id));
  }

  async list(p: Principal): Promise<FunctionInfo[]> {
    return (await this.functions.listVisible(p.userId, p.admin)).map(toFunctionInfo);
  }

  async delete(p: Principal, id: string): Promise<void> {
    const f = await this.functions.findLive(id);
    if (!f || !(f.ownerId === p.userId || p.admin)) throw FxException.notFound('function', id);
    await this.functions.softDelete(id);
  }

  /** Checks that every function of a submission may be run by the caller; returns them by id. */
  async runnable(p: Principal, ids: string[]): Promise<Map<string, FunctionRow>> {
    const rows = await this.functions.findManyLive(ids);
    const byId = new Map(rows.filter((f) => f.ownerId === p.userId || f.public).map((f) => [f.id, f]));
    const missing = ids.find((id) => !byId.has(id));
    if (missing) throw FxException.notFound('function', missing);
    return byId;
  }
}
