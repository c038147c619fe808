import { Module } from '@nestjs/common';
import { LongRequests } from '../../common/long-requests.js';
import { EventsModule } from '../events/events.module.js';
import { objectStoreProviders } from './object-store.provider.js';
import { ObjectsRepository } from './objects.repository.js';
import { UploadsRepository } from './uploads.repository.js';
import { ObjectsGcRepository } from './objects-gc.repository.js';
import { ObjectQuota } from './object-quota.js';
import { ObjectsService } from './objects.service.js';
import { UploadsService } from './uploads.service.js';
import { ObjectsGcService } from './objects-gc.service.js';
import { ObjectRefsService } from './object-refs.service.js';
import { ObjectsController } from './objects.controller.js';
import { UploadsController } from './uploads.controller.js';
import { ObjectLocality } from './object-locality.js';

/**
 * Objects: immutable data by reference (DESIGN invariant 10). The REST API (uploads, puts, reads,
 * deletes), the store behind it, the collector, and ObjectRefsService for the task modules: object
 * references in submitted arguments, and results reported as objects.
 */
@Module({
  imports: [EventsModule],
  controllers: [UploadsController, ObjectsController],
  providers: [
    ...objectStoreProviders,
    LongRequests,
    ObjectsRepository,
    UploadsRepository,
    ObjectsGcRepository,
    ObjectQuota,
    ObjectsService,
    UploadsService,
    ObjectsGcService,
    ObjectRefsService,
    ObjectLocality,
  ],
  exports: [ObjectRefsService, ObjectLocality],
})
export class ObjectsModule {}
