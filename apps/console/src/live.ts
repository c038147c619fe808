import { CONSOLE_CLOSE, encodeFrame, parseFrame, ServerToConsoleSchemas, type ConsoleEventsPayload, type ConsoleToServer } from '@fx/protocol';

export type LiveState = 'connecting' | 'live' | 'offline';
type Listener = (e: ConsoleEventsPayload) => void;

/**
 * The console channel: one websocket per signed-in tab. The token goes in the first frame (never in
 * the URL). Reconnects with backoff; after a reconnect listeners get an `overflow` event so that
 * views refetch what they may have missed.
 */
export class LiveChannel {
  private ws: WebSocket | null = null;
  private listeners = new Set<Listener>();
  private stateListeners = new Set<(s: LiveState) => void>();
  private attempt = 0;
  private stopped = false;
  private retry?: ReturnType<typeof setTimeout>;
  private everReady = false;
  state: LiveState = 'connecting';

  constructor(
    private readonly token: string,
    private readonly onRefused: (message: string) => void,
  ) {
    this.connect();
  }

  private setState(s: LiveState) {
    this.state = s;
    for (const l of this.stateListeners) l(s);
  }

  private connect() {
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/v1/ws/console`;
    const ws = new WebSocket(url);
    this.ws = ws;
    this.setState('connecting');
    ws.onopen = () => ws.send(encodeFrame<ConsoleToServer, 'auth'>('auth', { token: this.token }));
    ws.onmessage = (m) => {
      let frame;
      try {
        frame = parseFrame(ServerToConsoleSchemas, String(m.data));
      } catch {
        return;
      }
      if (frame.type === 'ready') {
        this.attempt = 0;
        this.setState('live');
        // whatever happened while we were away is unknown: views refetch
        if (this.everReady) this.emit({ tasks: [], endpoints: [], removedEndpoints: [], overflow: true });
        this.everReady = true;
      } else if (frame.type === 'events') {
        this.emit(frame.payload);
      } else if (frame.type === 'error' && frame.payload.code === 'UNAUTHENTICATED') {
        this.stopped = true;
        this.onRefused(frame.payload.message);
      }
    };
    ws.onclose = (e) => {
      this.ws = null;
      if (this.stopped) return;
      if (e.code === CONSOLE_CLOSE.unauthorized) return;
      this.setState('offline');
      const delay = Math.min(10_000, 250 * 2 ** this.attempt++) * (0.5 + Math.random() / 2);
      this.retry = setTimeout(() => this.connect(), delay);
    };
  }

  private emit(e: ConsoleEventsPayload) {
    for (const l of this.listeners) l(e);
  }

  subscribe(l: Listener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  onState(l: (s: LiveState) => void): () => void {
    this.stateListeners.add(l);
    return () => this.stateListeners.delete(l);
  }

  close() {
    this.stopped = true;
    clearTimeout(this.retry);
    this.ws?.close();
  }
}
