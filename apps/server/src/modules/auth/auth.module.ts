import { Global, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { AuthGuard } from './auth.guard.js';
import { AuthService } from './auth.service.js';
import { TokensRepository } from './tokens.repository.js';
import { SocketRegistry } from './socket-registry.service.js';
import { EventsModule } from '../events/events.module.js';

@Global()
@Module({
  imports: [EventsModule],
  providers: [AuthService, TokensRepository, SocketRegistry, { provide: APP_GUARD, useClass: AuthGuard }],
  exports: [AuthService, TokensRepository, SocketRegistry],
})
export class AuthModule {}
