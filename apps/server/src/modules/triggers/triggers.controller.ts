import { CreateTriggerRequest } from '@fx/protocol';
import { ApiController } from '../../common/api-decorators.js';
import { CreatableRoutes } from '../../common/owned-routes.js';
import { UuidPipe } from '../../common/zod.pipe.js';
import { TriggersService } from './triggers.service.js';

/** Triggers: a named object put under a prefix runs a function with it. Create, list, get and delete: CreatableRoutes. */
@ApiController('triggers', 'v1/triggers')
export class TriggersController extends CreatableRoutes(TriggersService, { pipe: UuidPipe }, CreateTriggerRequest) {}
