import { Injectable, Logger } from '@nestjs/common';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AppConfig } from '../../config/env.js';
import { AuthService } from '../auth/auth.service.js';
import { AuditService } from '../audit/audit.service.js';
import { tokenIssued } from '../audit/audit-details.js';
import { UsersRepository } from './users.repository.js';

/**
 * The first start's admin user, a step of starting the server (server.ts runs it once, before the port
 * opens, with the settings it started with) rather than a user-management operation of the API.
 */
@Injectable()
export class AdminBootstrap {
  private readonly logger = new Logger('Users');

  constructor(
    private readonly users: UsersRepository,
    private readonly auth: AuthService,
    private readonly audit: AuditService,
  ) {}

  /**
   * First start: create the admin user and write its token to <data dir>/admin.token (0600). Returns
   * the token when one was created now.
   */
  async run(config: Pick<AppConfig, 'FX_ADMIN_NAME' | 'FX_DATA_DIR'>): Promise<string | null> {
    if ((await this.users.count()) > 0) return null;
    let user;
    try {
      user = await this.users.create(config.FX_ADMIN_NAME, true);
    } catch {
      return null; // another replica created it at the same moment
    }
    const { token, row } = await this.auth.issue({ userId: user.id, kind: 'user', name: 'bootstrap admin token' });
    await this.audit.recordMany('system', [
      { action: 'user.created', target: { type: 'user', id: user.id }, ownerId: user.id, details: { name: user.name, admin: true } },
      tokenIssued(row),
    ]);
    await mkdir(config.FX_DATA_DIR, { recursive: true, mode: 0o700 });
    const file = join(config.FX_DATA_DIR, 'admin.token');
    await writeFile(file, token + '\n', { mode: 0o600 });
    await chmod(file, 0o600);
    this.logger.log(`created admin user "${user.name}"; its token is in ${file}`);
    return token;
  }
}
