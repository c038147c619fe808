import { Module } from '@nestjs/common';
import { FunctionsController } from './functions.controller.js';
import { FunctionsRepository } from './functions.repository.js';
import { FunctionsService } from './functions.service.js';
import { CacheRepository } from '../cache/cache.repository.js';
import { TaskStoreModule } from '../tasks/task-store.module.js';

@Module({
  imports: [TaskStoreModule],
  controllers: [FunctionsController],
  providers: [FunctionsService, FunctionsRepository, CacheRepository],
  exports: [FunctionsService, FunctionsRepository],
})
export class FunctionsModule {}
