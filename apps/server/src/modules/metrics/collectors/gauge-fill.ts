import { Gauge, type Registry } from 'prom-client';

/** One value of a gauge, under its labels. */
export interface GaugeValue<T extends string> {
  labels: Partial<Record<T, string>>;
  value: number;
}

/**
 * Replaces every value of a scrape-time gauge: series of things that went away (an agent that
 * disconnected, a queue that emptied) are dropped rather than kept at their last value. Values under
 * the same labels are summed (endpoints folded into `other`).
 */
export function fillGauge<T extends string>(gauge: Gauge<T>, values: Iterable<GaugeValue<T>>): void {
  gauge.reset();
  for (const { labels, value } of values) gauge.inc(labels, value);
}

/** A gauge whose values are all read when it is scraped. */
export function scrapedGauge<T extends string>(
  registry: Registry,
  spec: { name: string; help: string; labelNames: readonly T[] },
  values: () => Iterable<GaugeValue<T>> | Promise<Iterable<GaugeValue<T>>>,
): Gauge<T> {
  return new Gauge<T>({
    ...spec,
    registers: [registry],
    async collect() {
      fillGauge(this, await values());
    },
  });
}

/** One shared read for every gauge of a scrape (they are collected in parallel), reused for `ttlMs`; `read` must not reject. */
export class SharedRead<T> {
  private last?: { at: number; value: Promise<T> };

  constructor(
    private readonly read: () => Promise<T>,
    private readonly ttlMs: number,
  ) {}

  get(now = Date.now()): Promise<T> {
    if (!this.last || now - this.last.at >= this.ttlMs) this.last = { at: now, value: this.read() };
    return this.last.value;
  }
}
