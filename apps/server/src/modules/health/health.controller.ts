import { Controller, Get, HttpCode, Inject } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { Public } from '../auth/auth.guard.js';
import { FxException } from '../../common/fx.exception.js';
import { BROKER, DATABASE } from '../../storage/storage.module.js';
import type { Broker } from '../../storage/broker.js';
import type { Database } from '../../storage/database.js';

@ApiTags('health')
@Controller()
export class HealthController {
  constructor(
    @Inject(DATABASE) private readonly db: Database,
    @Inject(BROKER) private readonly broker: Broker,
  ) {}

  /** Alive: the process answers. */
  @Public()
  @Get('healthz')
  healthz() {
    return { status: 'ok' };
  }

  /** Ready: the database and the broker both answer. */
  @Public()
  @Get('readyz')
  @HttpCode(200)
  async readyz() {
    const [database, broker] = await Promise.all([this.db.health().catch(() => false), this.broker.health().catch(() => false)]);
    const body = {
      status: database && broker ? 'ready' : 'unavailable',
      database: { kind: this.db.kind, ok: database },
      broker: { kind: this.broker.kind, ok: broker },
    };
    if (!database || !broker) throw new FxException('UNAVAILABLE', `not ready: database ${database ? 'ok' : 'down'}, broker ${broker ? 'ok' : 'down'}`, body);
    return body;
  }
}
