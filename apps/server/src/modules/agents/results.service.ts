import { Inject, Injectable } from '@nestjs/common';
import type { TaskResult } from '@fx/protocol';
import { APP_CONFIG, type AppConfig } from '../../config/env.js';
import { TasksRepository, type ResultInput } from '../tasks/tasks.repository.js';
import { EventsService } from '../tasks/events.service.js';

@Injectable()
export class ResultsService {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly tasks: TasksRepository,
    private readonly events: EventsService,
  ) {}

  /**
   * Records one frame of results in one statement, then publishes what changed. Returns the ids to
   * acknowledge: all of them, recorded now or before (a duplicate is acknowledged and dropped).
   */
  async record(endpointId: string, results: TaskResult[]): Promise<string[]> {
    const inputs: ResultInput[] = results.map((r) => this.enforceLimit(r));
    const recorded = await this.tasks.recordResults(endpointId, inputs);
    await this.events.publishOutcomes(recorded);
    return results.map((r) => r.taskId);
  }

  /** The agent checks the limit too; the server does not trust it to. */
  private enforceLimit(r: TaskResult): ResultInput {
    if (r.status === 'success') {
      const size = Buffer.byteLength(JSON.stringify(r.result ?? null));
      if (size > this.config.FX_MAX_RESULT_BYTES) {
        return {
          taskId: r.taskId,
          status: 'failed',
          timings: r.timings,
          error: { code: 'RESULT_TOO_LARGE', name: 'ResultTooLarge', message: `the result is ${size} bytes; the limit is ${this.config.FX_MAX_RESULT_BYTES}` },
        };
      }
    }
    return { taskId: r.taskId, status: r.status, result: r.result, error: r.error, timings: r.timings };
  }
}
