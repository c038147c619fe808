import { Inject, Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { toFunctionRuntime } from '@fx/protocol';
import { APP_CONFIG, type AppConfig } from '../../config/env.js';
import { FxException } from '../../common/fx.exception.js';
import { EventsService } from '../events/events.service.js';
import { EndpointLabels, OTHER_ENDPOINT } from './endpoint-labels.js';
import { decideMetricsAccess, type MetricsRequest } from './metrics-access.js';
import { createInstruments, type FrameChannel, type Instruments, type ResultOutcome } from './metric-instruments.js';
import { MetricsRepository, type OutcomeFacts } from './metrics.repository.js';

/**
 * How often the event loop's lag is sampled (prom-client's histogram timer). Its default, 10 ms, woke an
 * idle server 100 times a second, most of what such a server cost (issue 18: an idle server's CPU); a stall
 * still shows in the lag figures, which only see it at this grain.
 */
export const EVENT_LOOP_SAMPLE_MS = 100;

/** Prometheus' text format, version 0.0.4 (what prom-client writes and every Prometheus reads). */
export const METRICS_CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;

/**
 * The registry of this server (one per server, not prom-client's global one: tests run several servers
 * in one process) and the hooks the rest of the server calls as things happen. Hooks are cheap and
 * never throw: a counter bump, or for final outcomes one lookup statement per batch, off the path that
 * reported them (the ack to an agent never waits for metrics). With FX_METRICS=off every hook returns
 * at once and nothing is looked up.
 */
@Injectable()
export class MetricsService implements OnModuleInit {
  private readonly logger = new Logger('Metrics');
  readonly registry = new Registry();
  readonly enabled: boolean;
  /** The `endpoint` label values, bounded (every collector takes its values from here). */
  readonly endpoints = new EndpointLabels();
  private readonly m: Instruments;

  constructor(
    @Inject(APP_CONFIG) private readonly config: Pick<AppConfig, 'FX_METRICS' | 'FX_METRICS_TOKEN'>,
    private readonly repo: MetricsRepository,
    private readonly events: EventsService,
  ) {
    this.enabled = config.FX_METRICS !== 'off';
    this.m = createInstruments(this.registry);
    // Node's own figures (CPU, memory, event loop lag, GC, handles), under the same prefix as ours
    if (this.enabled) collectDefaultMetrics({ register: this.registry, prefix: 'fx_', eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
  }

  onModuleInit(): void {
    this.events.on('endpoint-gone', ({ endpointId }) => void this.forgetEndpoint(endpointId));
  }

  /** GET /metrics: the text, once the request may read it (else the refusal, as an FxException). */
  async scrape(req: MetricsRequest): Promise<string> {
    const decision = decideMetricsAccess(this.config.FX_METRICS, this.config.FX_METRICS_TOKEN, req);
    if (!decision.allow) throw new FxException(decision.code, decision.message);
    return this.registry.metrics();
  }

  /** A submission committed. */
  submitted(tasks: ReadonlyArray<{ endpointId: string; runtime: string }>): void {
    if (!this.enabled) return;
    for (const [key, n] of countBy(tasks, (t) => `${toFunctionRuntime(t.runtime)} ${this.endpoints.of(t.endpointId)}`)) {
      const [runtime, endpoint] = key.split(' ') as [string, string];
      this.m.submitted.inc({ runtime, endpoint }, n);
    }
  }

  /** Tasks leased to an agent, with how long each waited in its queue. */
  dispatched(tasks: ReadonlyArray<{ runtime: string; waitedSeconds: number | null }>): void {
    if (!this.enabled) return;
    for (const t of tasks) if (t.waitedSeconds !== null) this.m.queueWait.observe({ runtime: toFunctionRuntime(t.runtime) }, Math.max(0, t.waitedSeconds));
  }

  /**
   * These outcomes were recorded (each exactly once: callers pass only what their statement changed).
   * Their labels and durations come with them when the statement returned them (`facts`: an agent's
   * results); those of the others are read in one statement, in the background.
   */
  finished(rows: ReadonlyArray<{ id: string; facts?: OutcomeFacts }>): void {
    if (!this.enabled || rows.length === 0) return;
    const known = rows.flatMap((r) => (r.facts ? [r.facts] : []));
    if (known.length > 0) this.observe(known);
    if (known.length < rows.length) this.lookUp(known.length > 0 ? rows.filter((r) => !r.facts) : rows);
  }

  /**
   * Memoized tasks of a submission that went in completed from a stored result (cache hits), counted
   * now. Their facts are all known here, so nothing is read: a success that never ran, on the endpoint
   * the submission's checks just found live, completed at its insert (latency 0).
   */
  finishedAtSubmit(hits: ReadonlyArray<{ endpointId: string; runtime: string }>): void {
    if (!this.enabled || hits.length === 0) return;
    this.observe(
      hits.map((h) => ({
        endpoint_id: h.endpointId,
        runtime: h.runtime,
        status: 'success',
        endpoint_live: true,
        memoized: true,
        cached: true,
        run_seconds: null,
        latency_seconds: 0,
      })),
    );
  }

  /** What became of the results agents reported (see ResultsService.record), by outcome. */
  results(counts: Partial<Record<ResultOutcome, number>>): void {
    if (!this.enabled) return;
    for (const [outcome, n] of Object.entries(counts)) if (n) this.m.results.inc({ outcome }, n);
  }

  frameReceived(channel: FrameChannel, type: string): void {
    if (this.enabled) this.m.framesReceived.inc({ channel, type });
  }

  socketReadsPaused(channel: FrameChannel): void {
    if (this.enabled) this.m.socketReadsPaused.inc({ channel });
  }

  frameSent(channel: FrameChannel, type: string, n = 1): void {
    if (this.enabled) this.m.framesSent.inc({ channel, type }, n);
  }

  objectBytesIn(bytes: number): void {
    if (this.enabled && bytes > 0) this.m.objectBytesIn.inc(bytes);
  }

  objectBytesOut(bytes: number): void {
    if (this.enabled && bytes > 0) this.m.objectBytesOut.inc(bytes);
  }

  private lookUp(rows: ReadonlyArray<{ id: string }>): void {
    this.repo
      .outcomeFacts(rows.map((r) => r.id))
      .then((facts) => this.observe(facts))
      // a metric lost to a database hiccup is not worth failing or slowing anything for
      .catch((e: Error) => this.logger.warn(`could not read ${rows.length} outcomes for the metrics: ${e.message}`));
  }

  private observe(facts: OutcomeFacts[]): void {
    for (const f of facts) {
      const runtime = toFunctionRuntime(f.runtime);
      const endpoint = f.endpoint_live ? this.endpoints.of(f.endpoint_id) : OTHER_ENDPOINT;
      this.m.finished.inc({ state: f.status, runtime, endpoint });
      if (f.status === 'cancelled') continue;
      this.m.latency.observe({ runtime }, Math.max(0, f.latency_seconds));
      if (f.run_seconds !== null) this.m.runTime.observe({ runtime }, Math.max(0, f.run_seconds));
      if (f.cached) this.m.cacheHits.inc();
      else if (f.memoized) this.m.cacheMisses.inc();
    }
  }

  /** A deleted endpoint's series go, and its label slot is free for another endpoint. */
  async forgetEndpoint(endpointId: string): Promise<void> {
    if (!this.endpoints.release(endpointId)) return;
    for (const counter of [this.m.submitted, this.m.finished] as const) {
      for (const v of (await counter.get()).values) if (v.labels.endpoint === endpointId) counter.remove(v.labels as never);
    }
  }
}

function countBy<T>(items: ReadonlyArray<T>, key: (t: T) => string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const t of items) {
    const k = key(t);
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  return counts;
}
