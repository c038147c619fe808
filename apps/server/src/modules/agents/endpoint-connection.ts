import { randomUUID } from 'node:crypto';
import type { WebSocket } from 'ws';
import { encodeFrame, type AgentInfo, type ErrorCode, type HeartbeatPayload, type LogChunk, type ServerToEndpoint, type TaskResult } from '@fx/protocol';
import { closeReason } from '../../common/close-reason.js';
import { InboundBudget } from '../../common/inbound-budget.js';

/** Tells the agent why in an `error` frame, then closes its socket. */
export function refuse(ws: WebSocket, code: ErrorCode, message: string, closeCode: number): void {
  if (ws.readyState === ws.OPEN) ws.send(encodeFrame<ServerToEndpoint, 'error'>('error', { code, message }));
  ws.close(closeCode, closeReason(message));
}

/** One agent's socket on this replica, with the credits it granted. */
export class EndpointConnection {
  /** Also the lease owner of every task handed to this connection. */
  readonly id = `conn-${randomUUID()}`;
  credits = 0;
  lastSeen = Date.now();
  /** When its leases were last extended for it (a heartbeat, or a pong of a `pongHeartbeats` agent). */
  lastBeat = Date.now();
  /** From `hello`: its pongs stand for heartbeats (AgentLivenessService). */
  pongHeartbeats = false;
  /**
   * Its last heartbeat showed no task, and no task was leased to it since: the idle cadence applies
   * (AgentLivenessService). False until its first heartbeat, as `hello` may have brought tasks.
   */
  idle = false;
  /** When a lease last woke it from a quiet idle spell: its silence counts from then (AgentLivenessService.granted). */
  wokeAt = 0;
  dispatching = false;
  dispatchAgain = false;
  /**
   * Bumped whenever tasks may have joined its endpoint's queue (an enqueue on this replica, a wake from
   * any); `emptyAt`: its value when a claim that found the queue empty began. Equal: nothing was queued
   * since, so a new task overtakes nobody by being leased in its insert (DirectLeaseService).
   */
  queueSeq = 0;
  emptyAt = -1;
  /**
   * Its last look for tasks to steal from the other members of its endpoint groups found none: it looks
   * again when a task is queued in one of its groups, or when `stealRetry` fires (DispatchService).
   */
  stealQuiet = false;
  stealRetry?: NodeJS.Timeout;
  /** Its agent had credits but no idle worker to steal for: its next recorded results bring it back (ResultsService). */
  stealBusy = false;
  /** Frames are handled one at a time, in order. */
  chain: Promise<void> = Promise.resolve();
  /**
   * The bytes of its frames the server holds: each until its turn on the chain ends, and results and
   * lines also until they are recorded. Past `inboundBytes` its socket is not read.
   */
  readonly inbound: InboundBudget;
  /** `results` frames received and not yet recorded (recorded together, acknowledged one by one), and their sizes. */
  resultFrames: TaskResult[][] = [];
  resultBytes: number[] = [];
  /**
   * The agent's lines from `stream` frames of nothing else, not yet stored: they are recorded by the
   * statement of the results behind them, or alone when none follow (ResultsService).
   */
  agentLines: LogChunk[] = [];
  /** The sizes of the frames `agentLines` came in. */
  agentLinesBytes = 0;
  /** Lines are in the statement being recorded; `linesDue`: a recording of lines alone is scheduled. */
  linesInFlight = false;
  linesDue = false;
  recording = false;
  /** The recording in progress (settled when it stops). */
  recorded: Promise<void> = Promise.resolve();
  /** From `hello`: which agent process this is (absent for older agents), and what it said of itself. */
  instanceId?: string;
  agent?: AgentInfo;
  /** Its agent said `ownerOnly` (no bubblewrap): the endpoint's owner, whose tasks alone it runs. */
  onlyOwner?: string;
  /** The agent's latest heartbeat, and when it came (its figures are exported at /metrics). */
  lastHeartbeat?: { at: number; status: HeartbeatPayload };
  readonly since = new Date();

  constructor(
    readonly endpointId: string,
    readonly ws: WebSocket,
    /** Told of every frame sent, by type (the metrics' frame counters). */
    private readonly onSent: (type: keyof ServerToEndpoint, n: number) => void = () => {},
    inboundBytes = 64 * 1024 * 1024,
    onPaused: () => void = () => {},
    onResumed: () => void = () => {},
  ) {
    this.inbound = new InboundBudget(ws, inboundBytes, onPaused, onResumed);
  }

  get open(): boolean {
    return this.ws.readyState === this.ws.OPEN;
  }

  send<K extends keyof ServerToEndpoint>(type: K, payload: ServerToEndpoint[K], id?: string): void {
    if (!this.open) return;
    this.ws.send(encodeFrame<ServerToEndpoint, K>(type, payload, id));
    this.onSent(type, 1);
  }

  /** Frames encoded already (DispatchService builds `tasks` frames by bytes). */
  sendEncoded(type: keyof ServerToEndpoint, frames: string[]): void {
    let sent = 0;
    for (const frame of frames) {
      if (!this.open) break;
      this.ws.send(frame);
      sent++;
    }
    if (sent) this.onSent(type, sent);
  }
}
