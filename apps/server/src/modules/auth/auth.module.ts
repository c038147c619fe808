import { Global, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { AuthGuard } from './auth.guard.js';
import { AuthService } from './auth.service.js';
import { TokensRepository } from './tokens.repository.js';

@Global()
@Module({
  providers: [AuthService, TokensRepository, { provide: APP_GUARD, useClass: AuthGuard }],
  exports: [AuthService, TokensRepository],
})
export class AuthModule {}
