import { Counter, Histogram, type Registry } from 'prom-client';

/**
 * Seconds, for queue waits, run times and latencies: from a few milliseconds (a cached or trivial task)
 * to an hour (an HPC job). Fixed, so that series from every replica and every version aggregate.
 */
export const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 1800, 3600];

/** Channels whose frames are counted, and the value for a frame that did not parse. */
export type FrameChannel = 'endpoint' | 'client';
export const INVALID_FRAME_TYPE = 'invalid';
/**
 * What became of a result an agent reported: recorded (made durable now), duplicate (already final: a
 * resend after a reconnect), ignored (its task is not leased to the reporting connection), retried (a
 * failure its retry policy runs again), copy (the result of a speculative copy).
 */
export type ResultOutcome = 'recorded' | 'duplicate' | 'ignored' | 'retried' | 'copy';

/**
 * The instruments updated as things happen (counters and histograms). Gauges are read when scraped, by
 * the collectors (collectors/). Every label set is bounded: `runtime` by FunctionRuntime, `state` by
 * the final task states, `endpoint` by EndpointLabels, `type` by the protocol's frame catalogs.
 */
export function createInstruments(registry: Registry) {
  const registers = [registry];
  return {
    submitted: new Counter({
      name: 'fx_tasks_submitted_total',
      help: 'Tasks accepted (committed) by this replica, by function runtime and endpoint.',
      labelNames: ['runtime', 'endpoint'] as const,
      registers,
    }),
    finished: new Counter({
      name: 'fx_tasks_finished_total',
      help: 'Tasks that reached a final state (success, failed, cancelled), counted by the replica that recorded it.',
      labelNames: ['state', 'runtime', 'endpoint'] as const,
      registers,
    }),
    queueWait: new Histogram({
      name: 'fx_task_queue_wait_seconds',
      help: "Seconds from a task's joining its endpoint's queue (submitted, ready or requeued) to its dispatch to an agent.",
      labelNames: ['runtime'] as const,
      buckets: DURATION_BUCKETS,
      registers,
    }),
    runTime: new Histogram({
      name: 'fx_task_run_seconds',
      help: 'Seconds from the agent reporting a task running to its result being recorded (its last attempt).',
      labelNames: ['runtime'] as const,
      buckets: DURATION_BUCKETS,
      registers,
    }),
    latency: new Histogram({
      name: 'fx_task_latency_seconds',
      help: 'Seconds from submission to the final result, for tasks that ended success or failed.',
      labelNames: ['runtime'] as const,
      buckets: DURATION_BUCKETS,
      registers,
    }),
    results: new Counter({
      name: 'fx_results_total',
      help: 'Task results agents reported to this replica, by outcome: recorded, duplicate (a resend of a final one), ignored (not leased to the reporter), retried, copy (speculative).',
      labelNames: ['outcome'] as const,
      registers,
    }),
    framesReceived: new Counter({
      name: 'fx_frames_received_total',
      help: 'Websocket frames received, by channel (endpoint: agents; client: SDKs) and frame type.',
      labelNames: ['channel', 'type'] as const,
      registers,
    }),
    socketReadsPaused: new Counter({
      name: 'fx_socket_reads_paused_total',
      help: 'Times a websocket was no longer read because the frames the server held of it reached their budget (a peer sending faster than its frames are handled), by channel.',
      labelNames: ['channel'] as const,
      registers,
    }),
    framesSent: new Counter({
      name: 'fx_frames_sent_total',
      help: 'Websocket frames sent, by channel (endpoint: agents; client: SDKs) and frame type.',
      labelNames: ['channel', 'type'] as const,
      registers,
    }),
    cacheHits: new Counter({
      name: 'fx_cache_hits_total',
      help: 'Memoized tasks that completed with a stored result (at submission, or sharing an execution in flight).',
      registers,
    }),
    cacheMisses: new Counter({
      name: 'fx_cache_misses_total',
      help: 'Memoized tasks that had to run themselves (no live entry for their key), counted when they end.',
      registers,
    }),
    objectBytesIn: new Counter({
      name: 'fx_object_bytes_in_total',
      help: 'Bytes of object content received (upload parts and one-shot puts), written to staging.',
      registers,
    }),
    objectBytesOut: new Counter({
      name: 'fx_object_bytes_out_total',
      help: 'Bytes of object content served (GET /v1/objects/:id/content, the range asked for).',
      registers,
    }),
  };
}

export type Instruments = ReturnType<typeof createInstruments>;
