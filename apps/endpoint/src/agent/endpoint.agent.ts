import { EventEmitter } from 'node:events';
import { dirname, join } from 'node:path';
import type { WelcomePayload } from '@fx/protocol';
import { AgentRefusedError } from './agent.errors.js';
import { AgentSession } from './agent.session.js';
import { AgentState, assertTransition, isFinalState } from './agent.state.js';
import type { EndpointAgentOptions } from './agent.options.js';
import { silentLogger, type Logger } from './logger.js';
import { EndpointObjects } from '../objects/endpoint.objects.js';
import { LiveStreams } from './live.streams.js';
import { ResultOutbox } from './result.outbox.js';
import { ResultSpool } from './result.spool.js';
import type { AgentStatusSnapshot, ConnectionState } from './status.file.js';
import { StatusReporter } from './status.reporter.js';
import { runsOwnersOnly } from './task.admission.js';
import { TaskIntake } from './task.intake.js';
import { TaskLines } from './task.lines.js';

export type { EndpointAgentOptions } from './agent.options.js';
export { endpointSocketUrl } from './agent.session.js';
export { chunkResults } from './result.outbox.js';

interface StopOptions {
  /** Skip the drain: abandon running tasks and close now (a second Ctrl-C). */
  force?: boolean;
}

/**
 * Default prefetch floor: enough tasks at hand that short tasks never leave workers waiting on the
 * credit round trip (a few ms to the server and back).
 */
const MIN_DEFAULT_PREFETCH = 256;
/** After the running tasks end, how long to wait for acks at least (even when the drain time is spent). */
const MIN_ACK_WAIT_MS = 3000;

export interface EndpointAgentEvents {
  state: [state: AgentState];
  /** Anything that can change what a waiter is waiting for (tasks, spool, connection). */
  change: [];
}

/** Live log text sent per task attempt unless configured otherwise (1 MiB). */
const DEFAULT_MAX_TASK_LOG_CHARS = 1024 * 1024;

/**
 * The endpoint agent: dials the server, grants credits for free worker slots, runs the tasks it is sent
 * on its provider, and reports results (spooled to disk first, removed on ack). The socket may come and
 * go; running tasks and their results survive it.
 *
 * This class is the lifecycle (INITIALIZING → CONNECTING ⇄ RUNNING → DRAINING → STOPPED | FAILED) and
 * the wiring of its parts: the session (the socket), the intake (tasks held and running), the outbox
 * (what goes back, coalesced) and the status reporter.
 */

export class EndpointAgent extends EventEmitter<EndpointAgentEvents> {
  private currentState: AgentState = AgentState.INITIALIZING;
  private lastError?: string;
  private readonly log: Logger;
  private readonly spool: ResultSpool;
  private readonly session: AgentSession;
  private readonly intake: TaskIntake;
  private readonly outbox: ResultOutbox;
  private readonly status: StatusReporter;
  private readonly objects: EndpointObjects;
  private readonly live: LiveStreams;

  private shuttingDown = false;
  private loopDone: Promise<void> = Promise.resolve();
  private stopPromise?: Promise<void>;
  private startPromise?: Promise<void>;
  private forceStop = false;
  private resolveDone!: (state: AgentState) => void;

  /** Resolves with STOPPED or FAILED once the agent has ended. */
  readonly done: Promise<AgentState>;

  constructor(private readonly options: EndpointAgentOptions) {
    super();
    const { provider } = options;
    // every line about a task also goes on its stream (TaskLines); the provider's too when the caller tapped its logger
    const taskLines = options.taskLines ?? new TaskLines();
    const log = (this.log = options.taskLines ? (options.logger ?? silentLogger) : taskLines.logger(options.logger ?? silentLogger));
    this.spool = new ResultSpool({ dir: options.spoolDir, log: (m) => log.warn(m) });
    this.objects = new EndpointObjects(
      { url: options.url, token: options.token },
      { ...options.objects, dir: options.objects?.dir ?? join(dirname(options.spoolDir), 'objects') },
      log,
    );
    this.session = new AgentSession({
      url: options.url,
      token: options.token,
      name: options.name,
      takeover: options.takeover ?? false,
      handshakeTimeoutMs: options.handshakeTimeoutMs,
      reconnect: options.reconnect,
      log,
      hello: () => {
        const status = provider.status();
        // what TaskAdmission refuses (StatusReporter says it in heartbeats too)
        return { provider: provider.name, workers: status.workers.total, inFlight: this.inFlightIds(), ownerOnly: runsOwnersOnly(status.sandbox) };
      },
      heartbeat: () => this.status.heartbeat(),
    });
    const prefetch = options.prefetch ?? Math.max(provider.capacity(), MIN_DEFAULT_PREFETCH);
    this.outbox = new ResultOutbox({
      session: this.session,
      spool: this.spool,
      log,
      flushIntervalMs: options.flushIntervalMs ?? 5,
      maxResultsPerFrame: options.maxResultsPerFrame ?? 500,
      isRunning: (taskId, copy) => this.intake.isRunning(taskId, copy),
      room: () => (this.currentState === AgentState.RUNNING ? provider.capacity() + prefetch - this.intake.queued - this.intake.running : undefined),
      ended: () => isFinalState(this.currentState),
      changed: () => this.changed(),
      beforeSend: () => this.live.flushEnded(),
    });
    this.live = new LiveStreams({ session: this.session, maxLogCharsPerTask: options.maxTaskLogChars ?? DEFAULT_MAX_TASK_LOG_CHARS });
    taskLines.attach((taskId, attempt, text) => {
      const at = attempt ?? this.intake.attemptOf(taskId);
      if (at !== undefined) this.live.agentLine(taskId, at, text);
    });
    this.intake = new TaskIntake({
      live: this.live,
      provider,
      taskLimits: options.taskLimits,
      endpointLabel: options.endpointId ?? options.name,
      log,
      reports: this.outbox,
      state: () => this.currentState,
      changed: () => this.changed(),
      objects: this.objects,
    });
    this.status = new StatusReporter({
      name: options.name,
      endpointId: options.endpointId,
      provider,
      path: options.statusFile,
      intervalMs: options.statusIntervalMs ?? 200,
      log,
      facts: () => ({
        state: this.currentState,
        connection: this.session.connection,
        connectedAt: this.session.connectedAt,
        queued: this.intake.queued,
        running: this.intake.running,
        spooled: this.outbox.unacked,
        lastError: this.lastError,
        spoolDegraded: this.spool.degraded,
      }),
    });
    this.wire();
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
  }

  get state(): AgentState {
    return this.currentState;
  }

  get connection(): ConnectionState {
    return this.session.connection;
  }

  /** Loads the spool, starts the provider and begins connecting. Resolves once that is under way. */
  start(): Promise<void> {
    this.startPromise ??= this.initialize();
    return this.startPromise;
  }

  /**
   * Drains and stops: no new credits, queued tasks are given up (the server re-leases them once this
   * agent is gone), running ones finish within `drainTimeoutSeconds`, results are flushed and acked.
   */
  stop(options: StopOptions = {}): Promise<void> {
    if (options.force) {
      this.forceStop = true;
      this.emit('change');
    }
    if (isFinalState(this.currentState)) return this.done.then(() => undefined);
    this.stopPromise ??= this.drain().then(async () => void (await this.done));
    return this.stopPromise;
  }

  /** The snapshot the status file and `heartbeat` are built from. */
  snapshot(): AgentStatusSnapshot {
    return this.status.snapshot();
  }

  /** Resolves once the agent is in `state` (or rejects if it ends first). */
  waitForState(state: AgentState): Promise<void> {
    if (this.currentState === state) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onState = (next: AgentState) => {
        if (next === state) {
          this.off('state', onState);
          resolve();
        } else if (isFinalState(next)) {
          this.off('state', onState);
          reject(new Error(`the agent ended in ${next} while waiting for ${state}${this.lastError ? `: ${this.lastError}` : ''}`));
        }
      };
      this.on('state', onState);
    });
  }

  /** What the session's events do to the rest of the agent. */
  private wire(): void {
    const { session, intake, outbox } = this;
    session.on('dialing', () => {
      outbox.dialing();
      this.changed();
    });
    session.on('welcome', (welcome) => this.onWelcome(welcome));
    session.on('tasks', (payload) => {
      outbox.tasksArrived(payload.tasks.length);
      intake.receive(payload);
    });
    session.on('ack', (taskIds, copies) => outbox.acked(taskIds, copies));
    session.on('cancel', (taskIds, copy) => intake.cancel(taskIds, copy === false ? 'its speculative copy finished first' : 'the task was cancelled', copy));
    session.on('beat', () => this.status.schedule());
    session.on('problem', (message) => {
      this.lastError = message;
      this.status.schedule();
    });
    session.on('closed', () => {
      if (this.currentState === AgentState.RUNNING) this.setState(AgentState.CONNECTING);
      outbox.closed();
      this.changed();
    });
  }

  private onWelcome(welcome: WelcomePayload): void {
    this.intake.welcome(welcome);
    this.lastError = undefined;
    if (welcome.forget.length > 0) {
      // The server no longer wants these from this agent (final, or reassigned): drop everything about them.
      this.outbox.discard(welcome.forget);
      this.intake.cancel(welcome.forget, 'the server reassigned the task');
      this.outbox.release(welcome.forget);
    }
    if (this.currentState === AgentState.CONNECTING) this.setState(AgentState.RUNNING);
    this.outbox.welcomed();
    this.changed();
  }

  // ---- lifecycle -------------------------------------------------------------------------------

  private async initialize(): Promise<void> {
    try {
      const found = await this.spool.load();
      if (found > 0) this.log.info(`found ${found} unacknowledged results in the spool; they will be resent`);
      await this.objects.open();
      await this.options.provider.start();
    } catch (error) {
      this.lastError = error instanceof Error ? error.message : String(error);
      this.log.error(`could not start: ${this.lastError}`);
      await this.options.provider.stop().catch(() => undefined);
      await this.objects.close().catch(() => undefined);
      this.setState(AgentState.FAILED);
      await this.status.writeNow();
      this.resolveDone(AgentState.FAILED);
      throw error;
    }
    if (this.stopPromise) return;
    this.setState(AgentState.CONNECTING);
    this.loopDone = this.session.run().then(async (refusal) => {
      if (refusal) await this.fail(refusal);
    });
  }

  private async drain(): Promise<void> {
    if (this.startPromise) await this.startPromise.catch(() => undefined);
    if (isFinalState(this.currentState)) return;
    this.setState(AgentState.DRAINING);
    const drainMs = (this.options.drainTimeoutSeconds ?? 30) * 1000;
    const deadline = Date.now() + drainMs;
    // Queued tasks never started: giving them up now lets another agent (or this one, restarted) run them.
    this.intake.giveUpQueued();
    this.log.info(`draining: waiting up to ${drainMs / 1000} s for ${this.intake.running} running tasks`);
    await this.waitFor(() => this.intake.running === 0, deadline);
    if (this.intake.running > 0) {
      this.log.warn(`drain time is up: abandoning ${this.intake.running} running tasks (the server will hand them out again)`);
      this.intake.abortRunning('the endpoint stopped before the task finished');
      await this.waitFor(() => this.intake.running === 0, Date.now() + 5000);
    }
    await this.outbox.flush();
    await this.waitFor(() => this.outbox.unacked === 0, Math.max(deadline, Date.now() + MIN_ACK_WAIT_MS));
    if (this.spool.size > 0) this.log.warn(`${this.spool.size} results are not acknowledged yet; they stay in the spool for the next start`);
    await this.shutdown(AgentState.STOPPED);
  }

  private async fail(error: AgentRefusedError): Promise<void> {
    this.lastError = error.message;
    this.log.error(error.message);
    this.intake.abortRunning('the endpoint failed');
    this.intake.giveUpQueued();
    await this.shutdown(AgentState.FAILED);
  }

  private async shutdown(finalState: AgentState): Promise<void> {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    this.status.freeze();
    this.session.close(finalState === 'FAILED' ? 'agent failed' : 'agent stopping');
    const closeDeadline = setTimeout(() => this.session.terminate(), 2000);
    // The loop itself calls shutdown when it fails, so it must not wait for itself.
    if (finalState !== AgentState.FAILED) await this.loopDone;
    else await this.waitFor(() => !this.session.attached, Date.now() + 3000);
    clearTimeout(closeDeadline);
    await this.options.provider.stop().catch((error: unknown) => this.log.warn(`stopping workers: ${String(error)}`));
    await this.outbox.close();
    await this.spool.close();
    this.live.close();
    await this.objects.close();
    this.status.cancel();
    this.setState(finalState);
    await this.status.writeNow();
    this.resolveDone(finalState);
  }

  private setState(next: AgentState): void {
    if (next === this.currentState) return;
    assertTransition(this.currentState, next);
    this.log.debug(`state ${this.currentState} → ${next}`);
    this.currentState = next;
    this.emit('state', next);
    this.changed();
  }

  /** Something observable changed: wake waiters and schedule a status-file rewrite. */
  private changed(): void {
    this.emit('change');
    this.status.schedule();
  }

  private waitFor(predicate: () => boolean, deadline: number): Promise<void> {
    if (predicate() || this.forceStop || Date.now() >= deadline) return Promise.resolve();
    return new Promise((resolve) => {
      const check = () => {
        if (predicate() || this.forceStop || Date.now() >= deadline) {
          this.off('change', check);
          clearTimeout(timer);
          resolve();
        }
      };
      const timer = setTimeout(check, Math.max(0, deadline - Date.now()) + 1);
      this.on('change', check);
    });
  }

  /** Tasks this agent still holds, for `hello`: queued, running, results not yet acknowledged. */
  private inFlightIds(): string[] {
    return [...new Set([...this.intake.ids(), ...this.outbox.ids()])].slice(0, 100_000);
  }
}
