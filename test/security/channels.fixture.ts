import WebSocket from 'ws';
import { eventually } from '@fx/testing';
import { rest, type TestServer } from '../../apps/server/src/testing/test-server.js';

/** Shared by the websocket-channel security tests: users, raw sockets that record every frame. */

/** Frames arrive within milliseconds: poll for them often. */
export const FRAME_POLL = { intervalMs: 25 };

export interface TestUser {
  id: string;
  token: string;
  tokenId: string;
  api: ReturnType<typeof rest>;
}

export async function mkUser(server: TestServer | { url: string; adminToken: string }, name: string, expiresInSeconds?: number): Promise<TestUser> {
  const admin = rest(server.url, server.adminToken);
  const u = await admin('POST', '/v1/users', { name });
  const t = await admin('POST', `/v1/users/${u.body.id}/tokens`, { name: 'main', ...(expiresInSeconds ? { expiresInSeconds } : {}) });
  if (u.status !== 201 || t.status !== 201) throw new Error(`user ${name}: ${u.status} ${t.status}`);
  return { id: u.body.id, token: t.body.token, tokenId: t.body.info.id, api: rest(server.url, t.body.token) };
}

/** A raw websocket that keeps every parsed frame and how it closed. */
export class RawSocket {
  readonly frames: Array<{ type: string; id?: string; payload: any }> = [];
  closed: { code: number; reason: string } | null = null;
  opened = false;
  private constructor(readonly ws: WebSocket) {
    ws.on('message', (d) => {
      try {
        this.frames.push(JSON.parse(d.toString()));
      } catch {
        /* not JSON: ignored */
      }
    });
    ws.on('open', () => (this.opened = true));
    ws.on('close', (code, reason) => (this.closed = { code, reason: reason.toString() }));
    ws.on('error', () => undefined);
  }

  static open(baseUrl: string, path: string, token?: string, opts: WebSocket.ClientOptions = {}): RawSocket {
    const ws = new WebSocket(baseUrl.replace(/^http/, 'ws') + path, {
      ...(token ? { headers: { authorization: `Bearer ${token}` } } : {}),
      maxPayload: 256 * 1024 * 1024,
      ...opts,
    });
    return new RawSocket(ws);
  }

  /** Resolves once open; rejects if it closes first. */
  async ready(timeoutMs = 10_000): Promise<void> {
    await eventually(() => this.opened || this.closed !== null, timeoutMs, 'socket open', FRAME_POLL);
    if (!this.opened) throw new Error(`socket closed before opening: ${JSON.stringify(this.closed)}`);
  }

  send(type: string, payload: unknown, id?: string): void {
    this.ws.send(JSON.stringify({ v: 1, type, ...(id ? { id } : {}), payload }));
  }

  async waitClosed(timeoutMs = 10_000): Promise<{ code: number; reason: string }> {
    await eventually(() => this.closed !== null, timeoutMs, 'socket closed', FRAME_POLL);
    return this.closed!;
  }

  async next(type: string, timeoutMs = 10_000, pred: (f: { type: string; payload: any; id?: string }) => boolean = () => true) {
    return eventually(() => this.frames.find((f) => f.type === type && pred(f)), timeoutMs, `"${type}" frame`, FRAME_POLL);
  }

  close(): void {
    this.ws.close();
  }
}
