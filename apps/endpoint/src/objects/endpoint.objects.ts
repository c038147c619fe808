import { join } from 'node:path';
import type { Logger } from '../agent/logger.js';
import { ObjectCache, type ObjectCacheStats } from './object.cache.js';
import { downloadObject } from './object.download.js';
import { ObjectHttp, type ObjectServer, type TransferRetry } from './object.http.js';
import { ObjectStage } from './object.stage.js';
import { ResultObjects } from './result.objects.js';
import { TaskInputs } from './task.inputs.js';

/** Largest result (or named output) an agent stores as an object by default (config.yaml `objects.maxResultMB`). */
export const DEFAULT_MAX_OBJECT_RESULT_BYTES = 10 * 1024 ** 3;

/** The agent's settings for data by reference (config.yaml `objects:`). */
export interface EndpointObjectsOptions {
  /** `$FX_HOME/endpoints/<name>/objects`: the cache, partial downloads, and the stage. */
  dir: string;
  /** @default DEFAULT_OBJECT_CACHE_BYTES */
  cacheBytes?: number;
  /**
   * Where sandboxed workers read their tasks' objects (see ObjectStage); `null`: they read the cache
   * itself (Slurm block workers, on a shared filesystem and without a sandbox).
   * @default `<dir>/stage`
   */
  stageDir?: string | null;
  /** Largest result a worker may hand back as a file to be stored. @default DEFAULT_MAX_OBJECT_RESULT_BYTES */
  maxResultBytes?: number;
  retry?: TransferRetry;
  /** A transfer silent this long fails (and is retried). @default 60000 */
  idleTimeoutMs?: number;
}

/** The stage directory an endpoint's workers read objects from, as createProvider shows it to the sandbox. */
export function defaultStageDir(objectsDir: string): string {
  return join(objectsDir, 'stage');
}

/**
 * Everything the agent needs for objects: the HTTP client (the agent's server and endpoint token), the
 * cache with its downloads, the stage, input resolution and result storage.
 */
export class EndpointObjects {
  readonly http: ObjectHttp;
  readonly cache: ObjectCache;
  readonly inputs: TaskInputs;
  readonly results: ResultObjects;
  readonly maxResultBytes: number;
  private readonly stage?: ObjectStage;

  constructor(server: ObjectServer, options: EndpointObjectsOptions, log: Logger) {
    this.http = new ObjectHttp(server, {
      ...(options.retry ? { retry: options.retry } : {}),
      ...(options.idleTimeoutMs ? { idleTimeoutMs: options.idleTimeoutMs } : {}),
    });
    this.cache = new ObjectCache({
      dir: options.dir,
      ...(options.cacheBytes !== undefined ? { maxBytes: options.cacheBytes } : {}),
      fetch: (ref, part, signal) => downloadObject(this.http, ref, part, signal),
      log,
    });
    const stageDir = options.stageDir === undefined ? defaultStageDir(options.dir) : options.stageDir;
    if (stageDir !== null) this.stage = new ObjectStage(stageDir);
    this.inputs = new TaskInputs(this.cache, this.stage);
    this.results = new ResultObjects(this.http);
    this.maxResultBytes = options.maxResultBytes ?? DEFAULT_MAX_OBJECT_RESULT_BYTES;
  }

  async open(): Promise<void> {
    await this.cache.open();
    await this.stage?.open();
  }

  stats(): ObjectCacheStats {
    return this.cache.stats();
  }

  async close(): Promise<void> {
    this.cache.close();
    this.http.close();
    await this.stage?.close();
  }
}
