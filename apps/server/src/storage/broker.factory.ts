import type { Broker } from './broker.js';
import { MemoryBroker } from './broker.memory.js';
import { RedisBroker } from './broker.redis.js';

export interface CreateBrokerOptions {
  /** redis:// URL. Without it the broker lives in this process (a single server, no replicas). */
  redisUrl?: string;
  /** Prefix of every Redis key and channel. @default 'fx:' */
  prefix?: string;
  /** How often the Redis broker looks for signs that Redis lost its data. @default 5000 */
  stateCheckIntervalMs?: number;
  log?: (msg: string) => void;
}

/** Connects to Redis when a URL is given (failing with a clear sentence if it cannot), else in-process. */
export async function createBroker(options: CreateBrokerOptions = {}): Promise<Broker> {
  if (options.redisUrl) {
    return RedisBroker.connect({
      url: options.redisUrl,
      prefix: options.prefix,
      stateCheckIntervalMs: options.stateCheckIntervalMs,
      log: options.log,
    });
  }
  return new MemoryBroker({ log: options.log });
}
