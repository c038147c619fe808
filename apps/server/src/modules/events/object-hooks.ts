import { Injectable, Logger } from '@nestjs/common';

type NamedHandler = (objectIds: string[]) => Promise<void>;

/**
 * In-process news of objects: the replica that stored a named object tells its triggers at once, so a
 * put fires without waiting for a sweep. Only a shortcut: the triggers' sweep finds whatever a crash
 * between the two lost, so nothing here needs to cross replicas.
 */
@Injectable()
export class ObjectHooks {
  private readonly logger = new Logger('ObjectHooks');
  private readonly handlers: NamedHandler[] = [];

  onNamed(handler: NamedHandler): void {
    this.handlers.push(handler);
  }

  /** Named objects were committed. Never throws: a handler's failure is the sweep's to repair. */
  named(objectIds: string[]): void {
    if (objectIds.length === 0) return;
    for (const h of this.handlers) h(objectIds).catch((e: unknown) => this.logger.warn({ msg: 'an object hook failed; the sweep will retry', err: String(e) }));
  }
}
