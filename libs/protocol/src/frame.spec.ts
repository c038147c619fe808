import { encodeFrame, parseFrame, FrameError } from './frame.js';
import { EndpointToServerSchemas, type EndpointToServer } from './endpoint.js';

describe('parseFrame', () => {
  it('parses a valid credits frame', () => {
    const raw = encodeFrame<EndpointToServer, 'credits'>('credits', { credits: 5 });
    expect(parseFrame(EndpointToServerSchemas, raw)).toEqual({ type: 'credits', id: undefined, payload: { credits: 5 } });
  });
  it('refuses another protocol version with a sentence', () => {
    expect(() => parseFrame(EndpointToServerSchemas, JSON.stringify({ v: 2, type: 'credits', payload: { credits: 1 } }))).toThrow(
      /protocol version 1, the frame says 2/,
    );
  });
  it('refuses unknown types and bad payloads with BAD_FRAME', () => {
    try {
      parseFrame(EndpointToServerSchemas, JSON.stringify({ v: 1, type: 'nope', payload: {} }));
      throw new Error('expected a throw');
    } catch (e) {
      expect(e).toBeInstanceOf(FrameError);
      expect((e as FrameError).code).toBe('BAD_FRAME');
    }
    expect(() => parseFrame(EndpointToServerSchemas, JSON.stringify({ v: 1, type: 'credits', payload: { credits: -1 } }))).toThrow(/bad "credits" payload/);
    expect(() => parseFrame(EndpointToServerSchemas, '{not json')).toThrow(/not valid JSON/);
  });
  it.each(['constructor', 'toString', 'hasOwnProperty', '__proto__'])('refuses the inherited name "%s" as an unknown type, not a TypeError', (type) => {
    const attempt = () => parseFrame(EndpointToServerSchemas, JSON.stringify({ v: 1, type, payload: {} }));
    expect(attempt).toThrow(FrameError);
    expect(attempt).toThrow(/unknown frame type/);
  });
});
