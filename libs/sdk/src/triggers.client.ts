import { CreateTriggerRequest, ListTriggersResponse, TriggerInfo, Uuid } from '@fx/protocol';
import type { RestRequest } from './rest-transport.js';
import { checkInput } from './validate.js';

/**
 * Triggers: a named object you put under `prefix` runs `function` on `endpoint` with the object's
 * reference as its one argument, exactly once per object, durably (a put while the endpoint is
 * offline runs when it returns). With `outputPrefix` the task's result is stored as an object named
 * `outputPrefix` + the rest of the input's name (`input/a.csv` → `output/a.csv`). `client.triggers`;
 * `client.createTrigger` is the everyday call.
 */
export class TriggersClient {
  constructor(private readonly request: <T>(req: RestRequest<T>) => Promise<T>) {}

  create(request: CreateTriggerRequest): Promise<TriggerInfo> {
    const body = checkInput(CreateTriggerRequest, request, 'trigger');
    return this.request({ method: 'POST', path: '/v1/triggers', body, response: TriggerInfo });
  }

  /** Your live triggers, oldest first. */
  async list(): Promise<TriggerInfo[]> {
    return (await this.request({ method: 'GET', path: '/v1/triggers', response: ListTriggersResponse })).items;
  }

  /** A trigger with how many times it has fired; NotFoundError for one that is not yours. */
  get(triggerId: string): Promise<TriggerInfo> {
    const id = checkInput(Uuid, triggerId, 'triggerId');
    return this.request({ method: 'GET', path: `/v1/triggers/${id}`, response: TriggerInfo });
  }

  /** Stops it firing; the tasks it already started run on. */
  async delete(triggerId: string): Promise<void> {
    const id = checkInput(Uuid, triggerId, 'triggerId');
    await this.request({ method: 'DELETE', path: `/v1/triggers/${id}` });
  }
}
