import WebSocket from 'ws';
import { WS_CLOSE } from '@fx/protocol';
import { silentLogger } from '../../agent/logger.js';
import { BlockWorkerServer, MAX_HELLO_BYTES, MAX_PENDING_WORKERS } from './block-worker.server.js';
import type { Block } from './slurm.model.js';

describe('BlockWorkerServer before a hello', () => {
  const block = { id: 'b1', secret: 's3cret', state: 'running' } as Block;
  let server: BlockWorkerServer;
  let url: string;
  const joined: string[] = [];
  const sockets: WebSocket[] = [];

  beforeEach(async () => {
    joined.length = 0;
    server = new BlockWorkerServer({
      listen: '127.0.0.1:0',
      address: '127.0.0.1',
      logger: silentLogger,
      findBlock: (id) => (id === block.id ? block : undefined),
      isStopping: () => false,
      onJoin: (conn) => joined.push(conn.node),
      onDone: () => undefined,
      onPython: () => undefined,
      onLeave: () => undefined,
    });
    url = await server.start();
  });
  afterEach(async () => {
    for (const ws of sockets.splice(0)) ws.terminate();
    await server.close();
  });

  const open = async () => {
    const ws = new WebSocket(url);
    sockets.push(ws);
    const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
    ws.on('error', () => undefined);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('close', () => resolve());
      ws.once('error', reject);
    });
    return { ws, closed };
  };
  const hello = (extra: Record<string, unknown> = {}) =>
    JSON.stringify({ type: 'hello', blockId: block.id, secret: block.secret, node: 'n1', pid: 1, slots: [{ index: 0, cores: 1, devices: [] }], ...extra });

  it('admits a hello with the secret, and drops a connection that sends more than MAX_HELLO_BYTES before one, unread', async () => {
    const ok = await open();
    ok.ws.send(hello());
    const deadline = Date.now() + 5_000;
    while (joined.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(joined).toEqual(['n1']);
    // a hello that would pass (unknown keys are stripped) but for its 1 MiB: never parsed, never admitted
    const big = await open();
    big.ws.send(hello({ node: 'n2', pad: 'x'.repeat(1024 * 1024) }));
    expect(await big.closed).toBe(1006);
    expect(joined).toEqual(['n1']);
    expect(MAX_HELLO_BYTES).toBeLessThan(1024 * 1024);
  });

  it('refuses connections past MAX_PENDING_WORKERS waiting for their hello', async () => {
    const waiting = [];
    for (let i = 0; i < MAX_PENDING_WORKERS; i++) waiting.push(await open());
    const extra = await open();
    expect(await extra.closed).toBe(WS_CLOSE.tooMany);
    await new Promise((r) => setTimeout(r, 200));
    expect(waiting.every((w) => w.ws.readyState === WebSocket.OPEN)).toBe(true);
    // once one is admitted, there is room again
    waiting[0]!.ws.send(hello());
    const deadline = Date.now() + 5_000;
    while (joined.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    const next = await open();
    await new Promise((r) => setTimeout(r, 200));
    expect(next.ws.readyState).toBe(WebSocket.OPEN);
  });
});
