import { randomUUID } from 'node:crypto';
import { HelloPayload, WelcomePayload, holdsNoTasks } from './endpoint.js';

describe('pongHeartbeats in hello and welcome', () => {
  const agent = { name: 'a', version: '1', hostname: 'h', pid: 1, platform: 'linux-x64', provider: 'local', workers: 1 };
  const welcome = {
    endpointId: randomUUID(),
    endpointName: 'e',
    heartbeatIntervalMs: 5_000,
    heartbeatTimeoutMs: 20_000,
    maxTasksPerFrame: 500,
    maxResultBytes: 1_000,
  };

  it('is optional on both sides (older agents and servers), and read when present', () => {
    expect(HelloPayload.parse({ protocolVersion: 1, agent }).pongHeartbeats).toBeUndefined();
    expect(HelloPayload.parse({ protocolVersion: 1, agent, pongHeartbeats: true }).pongHeartbeats).toBe(true);
    expect(WelcomePayload.parse(welcome).pongHeartbeats).toBeUndefined();
    expect(WelcomePayload.parse({ ...welcome, pongHeartbeats: true }).pongHeartbeats).toBe(true);
    expect(WelcomePayload.safeParse({ ...welcome, pongHeartbeats: 'yes' }).success).toBe(false);
  });

  it('the idle cadence is optional (older servers send none), and read when present', () => {
    expect(WelcomePayload.parse(welcome).idleHeartbeatIntervalMs).toBeUndefined();
    const idle = WelcomePayload.parse({ ...welcome, idleHeartbeatIntervalMs: 30_000, idleHeartbeatTimeoutMs: 120_000 });
    expect([idle.idleHeartbeatIntervalMs, idle.idleHeartbeatTimeoutMs]).toEqual([30_000, 120_000]);
    expect(WelcomePayload.safeParse({ ...welcome, idleHeartbeatIntervalMs: 0 }).success).toBe(false);
  });

  it('an agent holds no task only with nothing queued, running or unacknowledged', () => {
    expect(holdsNoTasks({ queued: 0, running: 0, spooled: 0 })).toBe(true);
    expect(holdsNoTasks({ queued: 1, running: 0, spooled: 0 })).toBe(false);
    expect(holdsNoTasks({ queued: 0, running: 1, spooled: 0 })).toBe(false);
    expect(holdsNoTasks({ queued: 0, running: 0, spooled: 1 })).toBe(false);
  });
});
