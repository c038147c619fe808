import { z } from 'zod';
import { Envelope, PROTOCOL_VERSION, type ErrorCode } from './common.js';

export class FrameError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'FrameError';
  }
}

type SchemaMap = Record<string, z.ZodType>;
export type Frame<M extends SchemaMap> = {
  [K in keyof M & string]: { type: K; id?: string; payload: z.infer<M[K]> };
}[keyof M & string];

/**
 * Parses one text frame against a catalog. Throws FrameError with a sentence a peer can read:
 * peers get told what was wrong rather than silently dropped.
 */
export function parseFrame<M extends SchemaMap>(catalog: M, raw: string | Buffer): Frame<M> {
  let json: unknown;
  try {
    json = JSON.parse(typeof raw === 'string' ? raw : raw.toString('utf8'));
  } catch {
    throw new FrameError('BAD_FRAME', 'frame is not valid JSON');
  }
  if (typeof json === 'object' && json !== null && 'v' in json && (json as { v: unknown }).v !== PROTOCOL_VERSION) {
    throw new FrameError(
      'UNSUPPORTED_PROTOCOL_VERSION',
      `this peer speaks protocol version ${PROTOCOL_VERSION}, the frame says ${JSON.stringify((json as { v: unknown }).v)}`,
    );
  }
  const env = Envelope.safeParse(json);
  if (!env.success) throw new FrameError('BAD_FRAME', `bad envelope: ${z.prettifyError(env.error)}`);
  // own keys only: "constructor" or "__proto__" would otherwise find Object.prototype's members
  const schema = Object.hasOwn(catalog, env.data.type) ? catalog[env.data.type] : undefined;
  if (!schema) {
    throw new FrameError('BAD_FRAME', `unknown frame type "${env.data.type}"; expected one of ${Object.keys(catalog).join(', ')}`);
  }
  const payload = schema.safeParse(env.data.payload);
  if (!payload.success) {
    throw new FrameError('BAD_FRAME', `bad "${env.data.type}" payload: ${z.prettifyError(payload.error)}`);
  }
  return { type: env.data.type, id: env.data.id, payload: payload.data } as Frame<M>;
}

/** Serialises one frame. The payload type is checked at compile time against the catalog's type map. */
export function encodeFrame<T extends Record<string, unknown>, K extends keyof T & string>(type: K, payload: T[K], id?: string): string {
  return JSON.stringify(id === undefined ? { v: PROTOCOL_VERSION, type, payload } : { v: PROTOCOL_VERSION, type, id, payload });
}
