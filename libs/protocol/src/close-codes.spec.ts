import { CLIENT_CLOSE, CONSOLE_CLOSE, ENDPOINT_CLOSE, SOCKET_CLOSE, WS_CLOSE } from './index.js';

describe('close codes', () => {
  it('are the numbers peers already speak (a change here breaks deployed agents and SDKs)', () => {
    expect(WS_CLOSE).toEqual({
      normal: 1000,
      goingAway: 1001,
      protocolError: 1002,
      tooBig: 1009,
      serverError: 1011,
      serviceRestart: 1012,
      badRequest: 4400,
      unauthorized: 4401,
      notFound: 4404,
      timeout: 4408,
      conflict: 4409,
      takenOver: 4410,
      tooMany: 4429,
    });
    expect(SOCKET_CLOSE).toEqual({ unauthorized: 4401, tooMany: 4429 });
    expect(ENDPOINT_CLOSE).toMatchObject({
      badRequest: 4400,
      unauthorized: 4401,
      gone: 4404,
      timeout: 4408,
      replaced: 4409,
      takenOver: 4410,
      tooMany: 4429,
      tooBig: 1009,
      serverError: 1011,
      reconfigured: 1012,
    });
    expect(CLIENT_CLOSE).toEqual({ unauthorized: 4401, tooMany: 4429, normal: 1000 });
    expect(CONSOLE_CLOSE).toEqual({ unauthorized: 4401, badFrame: 4400, timeout: 4408, tooMany: 4429 });
  });
});
