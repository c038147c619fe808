import { HeartbeatPayload, MAX_PYTHON_REASON_CHARS, PythonReport } from './endpoint.js';
import { EndpointStatusResponse } from './rest.js';

const beat = { state: 'RUNNING', workers: { total: 1, busy: 0, idle: 1 }, queued: 0, running: 0, spooled: 0, provider: 'local' };
const python = { available: true, version: '3.12.1', executable: '/opt/py/bin/python3', distributions: { count: 3, sha256: 'a'.repeat(64) } };

describe('PythonReport in heartbeats', () => {
  it('travels from heartbeat to the status answer unchanged, and is optional (older agents)', () => {
    const parsed = HeartbeatPayload.parse({ ...beat, python });
    expect(parsed.python).toEqual(python);
    expect(HeartbeatPayload.parse(beat).python).toBeUndefined();
    const status = EndpointStatusResponse.parse({
      id: '00000000-0000-4000-8000-000000000001',
      state: 'online',
      lastHeartbeatAt: null,
      status: parsed,
      tasks: { waiting: 0, dispatched: 0, running: 0 },
    });
    expect(status.status?.python).toEqual(python);
    expect(PythonReport.parse({ available: false, reason: 'no such program' })).toEqual({ available: false, reason: 'no such program' });
  });

  it('is bounded: a long reason, a malformed digest or a report of both kinds is refused', () => {
    expect(PythonReport.safeParse({ available: false, reason: 'x'.repeat(MAX_PYTHON_REASON_CHARS + 1) }).success).toBe(false);
    expect(PythonReport.safeParse({ ...python, distributions: { count: 3, sha256: 'not hex' } }).success).toBe(false);
    expect(PythonReport.safeParse({ available: true, reason: 'x' }).success).toBe(false);
    expect(HeartbeatPayload.safeParse({ ...beat, python: { ...python, version: 'v'.repeat(65) } }).success).toBe(false);
  });
});
