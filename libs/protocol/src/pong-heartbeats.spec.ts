import { randomUUID } from 'node:crypto';
import { HelloPayload, WelcomePayload } from './endpoint.js';

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
});
