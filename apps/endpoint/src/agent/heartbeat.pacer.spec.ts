import { canonicalJson as stableJson, type HeartbeatPayload } from '@fx/protocol';
import { HEARTBEAT_REFRESH_INTERVALS, HeartbeatPacer } from './heartbeat.pacer.js';

const idle: HeartbeatPayload = { state: 'RUNNING', workers: { total: 2, busy: 0, idle: 2 }, queued: 0, running: 0, spooled: 0, provider: 'fake' };
const beat = (running: number): HeartbeatPayload => ({ ...idle, running, workers: { total: 2, busy: running, idle: 2 - running } });

describe('HeartbeatPacer', () => {
  it('with pong heartbeats: sends a status when it changed, an unchanged one every HEARTBEAT_REFRESH_INTERVALS ticks', () => {
    const pacer = new HeartbeatPacer(true, 5_000);
    const sent = (payload: HeartbeatPayload) => pacer.sendHeartbeat(payload);
    expect(sent(beat(0))).toBe(true);
    for (let i = 1; i < HEARTBEAT_REFRESH_INTERVALS; i++) expect(sent(beat(0))).toBe(false);
    expect(sent(beat(0))).toBe(true);
    expect(sent(beat(0))).toBe(false);
    expect(sent(beat(1))).toBe(true);
    expect(sent(beat(1))).toBe(false);
    // the same status built in another key order is the same status
    const { provider, ...rest } = beat(1);
    expect(sent({ provider, ...rest })).toBe(false);
    expect(sent(beat(0))).toBe(true);
  });

  it('with pong heartbeats: pings the server only when it has been silent past an interval and a half', () => {
    const pacer = new HeartbeatPacer(true, 5_000);
    expect(pacer.sendPing(0)).toBe(false);
    expect(pacer.sendPing(5_200)).toBe(false);
    expect(pacer.sendPing(7_501)).toBe(true);
  });

  it('without them (an older server): a heartbeat and a ping at every tick, as before', () => {
    const pacer = new HeartbeatPacer(false, 5_000);
    for (let i = 0; i < 2 * HEARTBEAT_REFRESH_INTERVALS; i++) expect(pacer.sendHeartbeat(beat(0))).toBe(true);
    expect(pacer.sendPing(0)).toBe(true);
  });

  it('with an idle cadence: its thresholds while the status shows no task, the normal ones as soon as it shows one', () => {
    const pacer = new HeartbeatPacer(true, 5_000, 20_000, { intervalMs: 30_000, timeoutMs: 120_000 });
    expect(pacer.sendHeartbeat(beat(0))).toBe(true);
    expect(pacer.cadence).toEqual({ intervalMs: 30_000, timeoutMs: 120_000 });
    // the server's idle pings come once 30 s: a silence of 40 s is no reason to ping, nor 100 s to reconnect
    expect(pacer.sendPing(40_000)).toBe(false);
    expect(pacer.sendPing(45_001)).toBe(true);
    expect(pacer.timedOut(100_000)).toBe(false);
    expect(pacer.timedOut(120_001)).toBe(true);
    // a task arrived: the normal thresholds at the next tick
    expect(pacer.sendHeartbeat({ ...beat(0), queued: 1 })).toBe(true);
    expect(pacer.cadence).toEqual({ intervalMs: 5_000, timeoutMs: 20_000 });
    expect(pacer.sendPing(7_501)).toBe(true);
    expect(pacer.timedOut(20_001)).toBe(true);
    // results not yet acknowledged are tasks held too
    expect(pacer.sendHeartbeat({ ...beat(0), spooled: 1 })).toBe(true);
    expect(pacer.timedOut(20_001)).toBe(true);
  });

  it('with an idle cadence: an unchanged idle status is refreshed every HEARTBEAT_REFRESH_INTERVALS idle intervals', () => {
    const pacer = new HeartbeatPacer(true, 5_000, 20_000, { intervalMs: 30_000, timeoutMs: 120_000 });
    expect(pacer.sendHeartbeat(beat(0))).toBe(true);
    for (let i = 1; i < HEARTBEAT_REFRESH_INTERVALS * 6; i++) expect(pacer.sendHeartbeat(beat(0))).toBe(false);
    expect(pacer.sendHeartbeat(beat(0))).toBe(true);
  });

  it('without an idle cadence (an older server): the normal thresholds, whatever the status', () => {
    const pacer = new HeartbeatPacer(true, 5_000, 20_000);
    pacer.sendHeartbeat(beat(0));
    expect(pacer.cadence).toEqual({ intervalMs: 5_000, timeoutMs: 20_000 });
    expect(pacer.timedOut(20_001)).toBe(true);
  });

  it('serializes with sorted keys, nested objects included, arrays in their order', () => {
    expect(stableJson({ b: 1, a: { d: [2, 1], c: null } })).toBe('{"a":{"c":null,"d":[2,1]},"b":1}');
    expect(stableJson({ a: { c: null, d: [2, 1] }, b: 1 })).toBe(stableJson({ b: 1, a: { d: [2, 1], c: null } }));
  });
});
