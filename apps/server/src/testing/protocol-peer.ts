import WebSocket from 'ws';
import { ENDPOINT_PROTOCOL_VERSION, encodeFrame, parseFrame, ServerToEndpointSchemas, type EndpointToServer, type Frame } from '@fx/protocol';

type ServerFrame = Frame<typeof ServerToEndpointSchemas>;

/**
 * A bare endpoint-channel peer driven step by step by a test, to pin down the server's side of the
 * protocol (credits, acks, leases) exactly. The real agent is exercised by the end-to-end tests.
 */
export class ProtocolPeer {
  readonly frames: ServerFrame[] = [];
  private waiters: Array<() => void> = [];
  closed: { code: number; reason: string } | null = null;
  private constructor(readonly ws: WebSocket) {
    ws.on('message', (d) => {
      this.frames.push(parseFrame(ServerToEndpointSchemas, d as Buffer));
      this.wake();
    });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      this.wake();
    });
  }

  static async connect(baseUrl: string, token: string): Promise<ProtocolPeer> {
    const ws = new WebSocket(baseUrl.replace(/^http/, 'ws') + '/v1/ws/endpoint', { headers: { authorization: `Bearer ${token}` } });
    const peer = new ProtocolPeer(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return peer;
  }

  private wake() {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  send<K extends keyof EndpointToServer>(type: K, payload: EndpointToServer[K]): void {
    this.ws.send(encodeFrame<EndpointToServer, K>(type, payload));
  }

  hello(inFlight: string[] = [], protocolVersion: number = ENDPOINT_PROTOCOL_VERSION): void {
    this.send('hello', {
      protocolVersion,
      agent: { name: 'peer', version: 'test', hostname: 'test', pid: process.pid, platform: process.platform, provider: 'test', workers: 1 },
      inFlight,
    });
  }

  /** Waits until a frame of this type arrives after `from` (an index into frames); returns it. */
  async next<T extends ServerFrame['type']>(type: T, timeoutMs = 10_000, from = 0): Promise<Extract<ServerFrame, { type: T }>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const idx = this.frames.findIndex((f, i) => i >= from && f.type === type);
      if (idx >= 0) return this.frames.splice(idx, 1)[0] as Extract<ServerFrame, { type: T }>;
      if (this.closed) throw new Error(`socket closed (${this.closed.code} ${this.closed.reason}) while waiting for "${type}"`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no "${type}" frame within ${timeoutMs} ms; got ${this.frames.map((f) => f.type).join(', ') || 'nothing'}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Collects task specs until `count` arrived. */
  async tasks(count: number, timeoutMs = 10_000) {
    const got = [];
    while (got.length < count) got.push(...(await this.next('tasks', timeoutMs)).payload.tasks);
    return got;
  }

  async waitClosed(timeoutMs = 10_000): Promise<{ code: number; reason: string }> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error('socket did not close');
      await new Promise<void>((r) => {
        const t = setTimeout(r, 100);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
    return this.closed;
  }

  close(): void {
    this.ws.close();
  }

  /** Drops the TCP connection without a close frame, as a crashed agent would. */
  kill(): void {
    this.ws.terminate();
  }
}
