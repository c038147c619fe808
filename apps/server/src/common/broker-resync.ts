import type { Broker } from '../storage/broker.js';

/** Long enough for a subscriber cut off from the broker to have resubscribed. */
const RESUBSCRIBED_MS = 2_000;

/**
 * Events published while this replica's subscriber was cut off from the broker never arrive: after a
 * broker outage, `resync` reads from PostgreSQL what it missed, now and once more when the subscriber
 * has surely resubscribed.
 */
export function resyncAfterBrokerLoss(broker: Broker, resync: () => Promise<void>): void {
  broker.onStateLost(() => {
    void resync();
    setTimeout(() => void resync(), RESUBSCRIBED_MS).unref();
  });
}
