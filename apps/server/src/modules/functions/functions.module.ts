import { Module } from '@nestjs/common';
import { FunctionsController } from './functions.controller.js';
import { FunctionsRepository } from './functions.repository.js';
import { FunctionsService } from './functions.service.js';

@Module({ controllers: [FunctionsController], providers: [FunctionsService, FunctionsRepository], exports: [FunctionsService, FunctionsRepository] })
export class FunctionsModule {}
