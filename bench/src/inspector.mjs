// The server's own inspector, from the benchmark process: a server started with `--inspect=127.0.0.1:PORT`
// (bench only, no production code path) lets the bench force a full GC and read the heap that is left, take
// heap snapshots, or profile the CPU, without the server knowing.
import { createWriteStream } from 'node:fs';
import WebSocket from 'ws';
export { freePort } from '@fx/testing';

/** The node flag that opens a server's inspector on `port` (loopback only). */
export const inspectArg = (port) => `--inspect=127.0.0.1:${port}`;

export class Inspector {
  static async connect(port) {
    const [target] = await (await fetch(`http://127.0.0.1:${port}/json`)).json();
    const ws = new WebSocket(target.webSocketDebuggerUrl, { maxPayload: 0 });
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    return new Inspector(ws);
  }

  #seq = 0;
  #pending = new Map();
  #events = new Map();

  constructor(ws) {
    this.ws = ws;
    ws.on('message', (raw) => {
      const m = JSON.parse(raw.toString());
      if (m.id === undefined) return this.#events.get(m.method)?.(m.params);
      const p = this.#pending.get(m.id);
      this.#pending.delete(m.id);
      if (m.error) p?.reject(new Error(`${m.error.message} (${m.error.code})`));
      else p?.resolve(m.result);
    });
  }

  call(method, params = {}) {
    return new Promise((resolve, reject) => {
      const id = ++this.#seq;
      this.#pending.set(id, { resolve, reject });
      this.ws.send(JSON.stringify({ id, method, params }));
    });
  }

  /**
   * Bytes the server retains after full GCs: V8's used heap plus the memory outside it that JS objects
   * hold (Buffers, ArrayBuffers: `external`). Not RSS, which keeps the high-water mark of allocations.
   */
  async retainedBytes() {
    // twice: the first collection's finalizers and weak callbacks may free more for the second
    await this.call('HeapProfiler.collectGarbage');
    await this.call('HeapProfiler.collectGarbage');
    const { result } = await this.call('Runtime.evaluate', { expression: 'JSON.stringify(process.memoryUsage())', returnByValue: true });
    const m = JSON.parse(result.value);
    return { heapUsed: m.heapUsed, external: m.external, retained: m.heapUsed + m.external, rss: m.rss };
  }

  /** A heap snapshot (after a forced GC) written to `file`, for a diff in Chrome's DevTools. */
  async heapSnapshot(file) {
    const out = createWriteStream(file);
    this.#events.set('HeapProfiler.addHeapSnapshotChunk', ({ chunk }) => out.write(chunk));
    await this.call('HeapProfiler.collectGarbage');
    await this.call('HeapProfiler.takeHeapSnapshot', { reportProgress: false });
    this.#events.delete('HeapProfiler.addHeapSnapshotChunk');
    await new Promise((resolve) => out.end(resolve));
  }

  close() {
    this.ws.close();
  }
}
