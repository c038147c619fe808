import type { WebSocket } from 'ws';

/**
 * How many bytes of a socket's frames the server holds before it stops reading more. A channel handles
 * its frames one at a time (or a few at once), and a peer that sends faster than that would otherwise
 * have every frame it sent held in memory: a rate limit counts frames, not bytes, and an agent's frame
 * may be 64 MiB. Past the budget the socket is paused, so TCP pushes back on the peer; it is read again
 * once what is held is back within the budget. A frame is held from its arrival until its handler
 * says it is done with it (`release`), which may be after the frame's turn (results recorded in groups).
 */
export class InboundBudget {
  private held = 0;
  private paused = false;

  constructor(
    private readonly ws: WebSocket,
    private readonly maxBytes: number,
    /** Told each time the socket is paused (a metric). */
    private readonly onPause: () => void = () => {},
    /** Told each time it is read again. */
    private readonly onResume: () => void = () => {},
  ) {}

  /** Not read now: what the peer sends meanwhile waits in its own buffers, so its silence is the server's doing. */
  get isPaused(): boolean {
    return this.paused;
  }

  hold(bytes: number): void {
    this.held += bytes;
    if (!this.paused && this.held > this.maxBytes) {
      this.paused = true;
      this.ws.pause();
      this.onPause();
    }
  }

  release(bytes: number): void {
    this.held = Math.max(0, this.held - bytes);
    if (this.paused && this.held <= this.maxBytes) {
      this.paused = false;
      this.ws.resume();
      this.onResume();
    }
  }
}

/** A frame's size, however `ws` handed it over. */
export const frameBytes = (data: Buffer | ArrayBuffer | Buffer[]): number => (Array.isArray(data) ? data.reduce((n, b) => n + b.length, 0) : data.byteLength);

/** How often `drained` looks again: ws tells of no drain of its own. */
const DRAIN_POLL_MS = 20;

/**
 * Resolves once the socket has at most `maxBytes` waiting to go out (or is no longer open). A frame's
 * handler that awaits this before it ends keeps holding the frame's inbound bytes meanwhile, so a peer
 * that asks for much and reads nothing is paused (InboundBudget) instead of filling the server's memory
 * with what it never reads.
 */
export async function drained(ws: WebSocket, maxBytes: number): Promise<void> {
  while (ws.readyState === ws.OPEN && ws.bufferedAmount > maxBytes) await new Promise((resolve) => setTimeout(resolve, DRAIN_POLL_MS));
}
