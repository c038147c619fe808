import { Module } from '@nestjs/common';
import { UsersController } from './users.controller.js';
import { UsersRepository } from './users.repository.js';
import { UsersService } from './users.service.js';
import { AdminBootstrap } from './admin-bootstrap.service.js';

@Module({ controllers: [UsersController], providers: [UsersService, UsersRepository, AdminBootstrap], exports: [UsersService] })
export class UsersModule {}
