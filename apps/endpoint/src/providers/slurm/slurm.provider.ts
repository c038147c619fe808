import { randomBytes, timingSafeEqual } from 'node:crypto';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { hostname, userInfo } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocketServer, type WebSocket } from 'ws';
import type { TaskSpec } from '@fx/protocol';
import { TaskCancelledError, WalltimeExceededError, abortFailure, failure, type ExecutionOutcome } from '../../runtimes/task.errors.js';
import { TaskLostError, type BlockStatus, type DeviceStatus, type Provider, type ProviderStatus, type SubmitContext } from '../provider.js';
import { slotFits } from '../slots/slot.runner.js';
import { renderBlockScript } from './block.script.js';
import { decideScaling, type ScalingBlock } from './scaling.strategy.js';
import { SlurmCli, isTerminalState } from './slurm.cli.js';
import { formatWalltime } from './walltime.js';
import { NodeHello, NodeToAgent, type AgentToNode } from './worker.channel.js';
import { silentLogger, type Logger } from '../../agent/logger.js';

export interface SlurmSettings {
  partition?: string;
  account?: string;
  qos?: string;
  /** Block walltime in seconds (config: `walltime: "HH:MM:SS"`). */
  walltimeSeconds: number;
  nodesPerBlock: number;
  workersPerNode: number;
  coresPerWorker?: number;
  initBlocks: number;
  minBlocks: number;
  maxBlocks: number;
  maxIdleSeconds: number;
  schedulerOptions: string[];
  workerInit: string;
  launcher: 'srun' | 'none';
  mpiLauncher: 'srun' | 'mpiexec';
  /** host:port the agent listens on for its block workers. */
  listen: string;
  /** Host the block workers dial (the login node's name on the cluster network). */
  address?: string;
  pollIntervalSeconds: number;
}

export interface SlurmProviderOptions {
  endpointName: string;
  endpointId: string;
  settings: SlurmSettings;
  accelerators?: 'auto' | string[];
  /** Where block scripts and block logs go (`$FX_HOME/endpoints/<name>/blocks`). */
  blocksDir: string;
  shellOutputLines?: number;
  cli?: SlurmCli;
  onChange?: () => void;
  logger?: Logger;
}

type BlockState = 'submitting' | 'pending' | 'running' | 'cancelling' | 'ended';

interface Block {
  id: string;
  jobId?: string;
  secret: string;
  state: BlockState;
  schedulerState?: string;
  submittedAt: number;
  startedAt?: number;
  idleSince: number;
  nodes: NodeConn[];
}

interface NodeConn {
  ws: WebSocket;
  block: Block;
  node: string;
  slots: Slot[];
}

interface Slot {
  conn: NodeConn;
  index: number;
  cores: number;
  devices: string[];
  id: string;
  running?: Pending;
}

interface Pending {
  task: TaskSpec;
  signal: AbortSignal;
  context: SubmitContext;
  settle: (outcome: ExecutionOutcome) => void;
  lose: (error: TaskLostError) => void;
  slot?: Slot;
}

const WORKER_ENTRY = fileURLToPath(new URL('./block.worker.js', import.meta.url));

/**
 * Runs tasks in Slurm pilot jobs ("blocks"). The agent on the login node never runs a task itself: it
 * submits blocks with `sbatch`; each block starts one FX node worker per node (`srun`), which dials back
 * to the agent's listening address and authenticates with the block's secret. Tasks are placed only on
 * a worker slot that can hold their resource request. One `squeue` per poll watches every block; a block
 * that ends (walltime, node failure, scancel) has its running tasks handed back to the server, which
 * requeues them with `attempt + 1`.
 */
export class SlurmProvider implements Provider {
  readonly name = 'slurm';
  readonly startsLater = true;
  private readonly settings: SlurmSettings;
  private readonly cli: SlurmCli;
  private readonly log: Logger;
  private readonly jobName: string;
  private readonly user = userInfo().username;
  private readonly blocks = new Map<string, Block>();
  private readonly queue: Pending[] = [];
  private wss?: WebSocketServer;
  private agentAddress = '';
  private pollTimer?: NodeJS.Timeout;
  private scaleQueued = false;
  private polling = false;
  private stopping = false;
  private seq = 0;
  private acceleratorNote?: string;

  constructor(private readonly options: SlurmProviderOptions) {
    this.settings = options.settings;
    this.cli = options.cli ?? new SlurmCli();
    this.log = options.logger ?? silentLogger;
    this.jobName = `fx-${options.endpointName}-${options.endpointId.slice(0, 8)}`.slice(0, 64);
  }

  /** Slots per node: one per configured accelerator when pinning, else workersPerNode. */
  private get workersPerNode(): number {
    const a = this.options.accelerators;
    return Array.isArray(a) && a.length > 0 ? a.length : this.settings.workersPerNode;
  }

  private get slotsPerBlock(): number {
    return this.settings.nodesPerBlock * this.workersPerNode;
  }

  async start(): Promise<void> {
    await mkdir(this.options.blocksDir, { recursive: true, mode: 0o700 });
    const [host, portText] = splitHostPort(this.settings.listen);
    const wss = new WebSocketServer({ host, port: Number(portText), maxPayload: 256 * 1024 * 1024 });
    await new Promise<void>((resolve, reject) => {
      wss.once('listening', resolve);
      wss.once('error', (error) => reject(new Error(`cannot listen for block workers on ${this.settings.listen}: ${error.message}`)));
    });
    this.wss = wss;
    const port = (wss.address() as { port: number }).port;
    this.agentAddress = `ws://${this.settings.address ?? hostname()}:${port}/`;
    wss.on('connection', (ws) => this.onWorkerConnection(ws));
    this.log.info(`block workers dial ${this.agentAddress}; blocks are "${this.jobName}" jobs (${this.settings.minBlocks}..${this.settings.maxBlocks} blocks of ${this.settings.nodesPerBlock} node(s) × ${this.workersPerNode} workers)`);
    for (let i = 0; i < Math.min(this.settings.initBlocks, this.settings.maxBlocks); i++) void this.submitBlock();
    this.pollTimer = setInterval(() => void this.poll(), this.settings.pollIntervalSeconds * 1000);
    this.pollTimer.unref();
    this.scheduleScaling();
  }

  capacity(): number {
    return this.settings.maxBlocks * this.slotsPerBlock;
  }

  submit(task: TaskSpec, signal: AbortSignal, context: SubmitContext): Promise<ExecutionOutcome> {
    const refusal = this.refusal(task);
    if (refusal) return Promise.resolve(failure('RESOURCES_UNAVAILABLE', 'ResourcesUnavailable', refusal));
    if (signal.aborted) return Promise.resolve(abortFailure(signal.reason));
    if (this.stopping) return Promise.reject(new TaskLostError('the provider is stopping'));
    return new Promise<ExecutionOutcome>((resolve, reject) => {
      const pending: Pending = {
        task,
        signal,
        context,
        settle: (outcome) => {
          signal.removeEventListener('abort', onAbort);
          resolve(outcome);
        },
        lose: (error) => {
          signal.removeEventListener('abort', onAbort);
          reject(error);
        },
      };
      const onAbort = () => {
        const slot = pending.slot;
        if (!slot) {
          const i = this.queue.indexOf(pending);
          if (i >= 0) this.queue.splice(i, 1);
          pending.settle(abortFailure(signal.reason));
          return;
        }
        const reason: unknown = signal.reason;
        const message: AgentToNode =
          reason instanceof WalltimeExceededError
            ? { type: 'abort', taskId: task.taskId, reason: 'walltime', walltimeSeconds: reason.walltimeSeconds }
            : { type: 'abort', taskId: task.taskId, reason: 'cancel', message: reason instanceof TaskCancelledError ? reason.message : 'the task was cancelled' };
        sendTo(slot.conn.ws, message);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.queue.push(pending);
      this.place();
      this.scheduleScaling();
    });
  }

  status(): ProviderStatus {
    const blocks: BlockStatus[] = [];
    const devices: DeviceStatus[] = [];
    let total = 0;
    let busy = 0;
    for (const b of this.blocks.values()) {
      const slots = b.nodes.flatMap((n) => n.slots);
      const busyHere = slots.filter((s) => s.running).length;
      blocks.push({
        id: b.id,
        ...(b.jobId ? { jobId: b.jobId } : {}),
        state: b.state,
        ...(b.schedulerState ? { schedulerState: b.schedulerState } : {}),
        nodes: b.nodes.map((n) => n.node),
        workers: slots.length,
        busy: busyHere,
      });
      total += slots.length;
      busy += busyHere;
      for (const s of slots) for (const d of s.devices) devices.push({ device: `${s.conn.node}:${d}`, worker: s.id, busy: s.running !== undefined });
    }
    return {
      workers: { total, busy, idle: total - busy },
      pids: [],
      processGroups: [],
      blocks,
      ...(devices.length > 0 ? { devices } : {}),
      ...(this.acceleratorNote ? { acceleratorNote: this.acceleratorNote } : {}),
    };
  }

  /** Cancels every block (one `scancel`) and waits until squeue lists none of them as alive. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.pollTimer) clearInterval(this.pollTimer);
    for (const p of this.queue.splice(0)) p.lose(new TaskLostError('the endpoint stopped before the task started'));
    const live = [...this.blocks.values()].filter((b) => b.jobId && b.state !== 'ended');
    // Blocks still being submitted get their job id soon; wait for them briefly so none escapes.
    const deadline = Date.now() + 30_000;
    while ([...this.blocks.values()].some((b) => b.state === 'submitting') && Date.now() < deadline) await sleep(100);
    const ids = [...new Set([...live, ...[...this.blocks.values()].filter((b) => b.jobId && b.state !== 'ended')].map((b) => b.jobId as string))];
    if (ids.length > 0) {
      this.log.info('stopping: cancelling the blocks', { jobIds: ids });
      await this.cli.scancel(ids).catch((error: unknown) => this.log.warn(`scancel failed: ${(error as Error).message}`, { jobIds: ids }));
    }
    for (const b of this.blocks.values()) for (const n of b.nodes) n.ws.close(1001, 'agent stopping');
    while (ids.length > 0 && Date.now() < deadline) {
      const jobs = await this.cli.squeue(this.jobName, this.user).catch(() => undefined);
      if (jobs && ids.every((id) => { const j = jobs.get(id); return !j || isTerminalState(j.state); })) break;
      await sleep(250);
    }
    for (const b of this.blocks.values()) b.state = 'ended';
    await new Promise<void>((resolve) => (this.wss ? this.wss.close(() => resolve()) : resolve()));
    this.options.onChange?.();
  }

  // ---- placement -------------------------------------------------------------------------------

  /** Why no worker of this endpoint could ever hold the task, or undefined when one could. */
  private refusal(task: TaskSpec): string | undefined {
    const r = task.resources;
    if (!r) return undefined;
    const cores = this.settings.coresPerWorker ?? 1;
    if ((r.cores ?? 1) > cores) return `the task asks for ${r.cores} cores; this endpoint's workers have ${cores} (slurm.coresPerWorker)`;
    const gpus = r.gpus ?? 0;
    if (gpus > 0 && this.options.accelerators === undefined) return `the task asks for ${gpus} GPU(s); this endpoint pins no accelerators (set "accelerators")`;
    if (gpus > 1) return `the task asks for ${gpus} GPUs; a pinned worker holds exactly one`;
    if (gpus > 0 && this.options.accelerators === 'auto' && this.acceleratorNote && this.status().devices === undefined && this.liveNodes() > 0) {
      return `the task asks for a GPU, but ${this.acceleratorNote}`;
    }
    if ((r.nodes ?? 1) > this.settings.nodesPerBlock) return `the task asks for ${r.nodes} nodes; blocks have ${this.settings.nodesPerBlock} (slurm.nodesPerBlock)`;
    if (r.walltimeSeconds !== undefined && r.walltimeSeconds > this.settings.walltimeSeconds) {
      return `the task asks for ${r.walltimeSeconds} s of walltime; blocks last ${this.settings.walltimeSeconds} s (slurm.walltime)`;
    }
    return undefined;
  }

  private liveNodes(): number {
    let n = 0;
    for (const b of this.blocks.values()) n += b.nodes.length;
    return n;
  }

  /** Puts queued tasks on free slots that can hold them, busiest blocks first (idle blocks can then go). */
  private place(): void {
    if (this.queue.length === 0) return;
    const now = Date.now();
    const blocks = [...this.blocks.values()]
      .filter((b) => b.state === 'running')
      .sort((a, b) => busyCount(b) - busyCount(a));
    const free = blocks.flatMap((b) => b.nodes.flatMap((n) => n.slots.filter((s) => !s.running)));
    if (free.length === 0) return;
    for (let i = 0; i < this.queue.length && free.length > 0; ) {
      const p = this.queue[i]!;
      const r = p.task.resources;
      const at = free.findIndex((s) => {
        if (!slotFits({ cores: s.cores, gpus: s.devices.length }, r)) return false;
        const block = s.conn.block;
        if (r?.walltimeSeconds !== undefined) {
          const left = (block.startedAt ?? now) + this.settings.walltimeSeconds * 1000 - now;
          if (left < r.walltimeSeconds * 1000) return false;
        }
        return true;
      });
      if (at < 0) {
        i++;
        continue;
      }
      const slot = free.splice(at, 1)[0]!;
      this.queue.splice(i, 1);
      p.slot = slot;
      slot.running = p;
      sendTo(slot.conn.ws, { type: 'run', taskId: p.task.taskId, slot: slot.index, task: p.task, maxResultBytes: p.context.maxResultBytes });
      p.context.onStart?.(slot.id);
    }
    this.options.onChange?.();
  }

  // ---- block workers ---------------------------------------------------------------------------

  private onWorkerConnection(ws: WebSocket): void {
    let conn: NodeConn | undefined;
    const helloTimer = setTimeout(() => ws.close(4408, 'no hello'), 10_000);
    ws.on('message', (data) => {
      let message: NodeToAgent;
      try {
        message = NodeToAgent.parse(JSON.parse(data.toString()));
      } catch {
        ws.close(4400, 'bad frame');
        return;
      }
      if (!conn) {
        clearTimeout(helloTimer);
        const hello = NodeHello.safeParse(message);
        if (!hello.success) return ws.close(4400, 'the first frame must be hello');
        const block = this.blocks.get(hello.data.blockId);
        if (!block || !sameSecret(block.secret, hello.data.secret)) {
          this.log.warn('refused a block worker: unknown block or wrong secret', { blockId: hello.data.blockId, node: hello.data.node });
          return ws.close(4401, 'unknown block or wrong secret');
        }
        if (block.state === 'ended' || block.state === 'cancelling' || this.stopping) return ws.close(4401, 'this block is ending');
        conn = { ws, block, node: hello.data.node, slots: [] };
        const c = conn;
        conn.slots = hello.data.slots.map((s) => ({ conn: c, index: s.index, cores: s.cores, devices: s.devices, id: `${block.id}/${hello.data.node}/w${s.index}` }));
        if (hello.data.acceleratorNote) this.acceleratorNote = hello.data.acceleratorNote;
        block.nodes.push(conn);
        if (block.state !== 'running') {
          block.state = 'running';
          block.startedAt = Date.now();
          block.idleSince = Date.now();
          this.log.info(`block is running: ${hello.data.node} with ${conn.slots.length} workers`, { blockId: block.id, jobId: block.jobId });
        }
        sendTo(ws, { type: 'welcome' });
        this.place();
        this.scheduleScaling();
        return;
      }
      if (message.type === 'done') {
        const slot = conn.slots.find((s) => s.running?.task.taskId === message.taskId);
        if (!slot) return;
        const p = slot.running!;
        slot.running = undefined;
        if (busyCount(conn.block) === 0) conn.block.idleSince = Date.now();
        p.settle(message.outcome as ExecutionOutcome);
        this.place();
        this.options.onChange?.();
      }
    });
    ws.on('error', () => undefined);
    ws.on('close', () => {
      clearTimeout(helloTimer);
      if (!conn) return;
      const block = conn.block;
      block.nodes = block.nodes.filter((n) => n !== conn);
      this.loseSlots(conn.slots, `block ${block.id} (job ${block.jobId ?? '?'}) lost node ${conn.node}`);
      if (block.nodes.length === 0 && block.state === 'running') {
        // Every worker of the block is gone: the block is over, whatever squeue says yet.
        this.endBlock(block, 'its workers disconnected');
        if (block.jobId && !this.stopping) void this.cli.scancel([block.jobId]).catch(() => undefined);
      }
      this.scheduleScaling();
      this.options.onChange?.();
    });
  }

  private loseSlots(slots: Slot[], why: string): void {
    for (const slot of slots) {
      const p = slot.running;
      if (!p) continue;
      slot.running = undefined;
      p.lose(new TaskLostError(why));
    }
  }

  private endBlock(block: Block, why: string): void {
    if (block.state === 'ended') return;
    const was = block.state;
    block.state = 'ended';
    this.log.info(`block ended: ${why}`, { blockId: block.id, jobId: block.jobId });
    for (const n of block.nodes) {
      this.loseSlots(n.slots, `block ${block.id} (job ${block.jobId ?? '?'}) ended: ${why}`);
      n.ws.close(1001, 'block ended');
    }
    block.nodes = [];
    // Keep ended blocks briefly for status, then forget them.
    setTimeout(() => this.blocks.delete(block.id), 60_000).unref();
    if (was !== 'cancelling') this.scheduleScaling();
    this.options.onChange?.();
  }

  // ---- scheduler ---------------------------------------------------------------------------------

  private async submitBlock(): Promise<void> {
    const id = `b${++this.seq}-${randomBytes(3).toString('hex')}`;
    const block: Block = { id, secret: randomBytes(32).toString('hex'), state: 'submitting', submittedAt: Date.now(), idleSince: Date.now(), nodes: [] };
    this.blocks.set(id, block);
    this.options.onChange?.();
    const script = join(this.options.blocksDir, `${id}.sh`);
    try {
      const text = renderBlockScript({
        jobName: this.jobName,
        blockId: id,
        secret: block.secret,
        agentAddress: this.agentAddress,
        outputPath: join(this.options.blocksDir, `${id}-%j.log`),
        walltime: formatWalltime(this.settings.walltimeSeconds),
        nodesPerBlock: this.settings.nodesPerBlock,
        workersPerNode: this.settings.workersPerNode,
        ...(this.settings.coresPerWorker !== undefined ? { coresPerWorker: this.settings.coresPerWorker } : {}),
        ...(this.settings.partition ? { partition: this.settings.partition } : {}),
        ...(this.settings.account ? { account: this.settings.account } : {}),
        ...(this.settings.qos ? { qos: this.settings.qos } : {}),
        schedulerOptions: this.settings.schedulerOptions,
        workerInit: this.settings.workerInit,
        launcher: this.settings.launcher,
        mpiLauncher: this.settings.mpiLauncher,
        ...(this.options.accelerators !== undefined ? { accelerators: this.options.accelerators } : {}),
        nodePath: process.execPath,
        workerEntry: WORKER_ENTRY,
        shellOutputLines: this.options.shellOutputLines ?? 1000,
      });
      await writeFile(script, text, { mode: 0o600 });
      await chmod(script, 0o600);
      block.jobId = await this.cli.sbatch(script);
      if (block.state === 'submitting') block.state = 'pending';
      this.log.info(`submitted a block as job ${block.jobId}`, { blockId: id, jobId: block.jobId });
      if (this.stopping) await this.cli.scancel([block.jobId]).catch(() => undefined);
    } catch (error) {
      this.log.warn(`could not submit a block: ${(error as Error).message}`, { blockId: id });
      block.state = 'ended';
      setTimeout(() => this.blocks.delete(id), 60_000).unref();
    }
    this.options.onChange?.();
  }

  /** One squeue for every block of this agent, then a scaling decision. */
  private async poll(): Promise<void> {
    if (this.polling || this.stopping) return;
    this.polling = true;
    try {
      const watched = [...this.blocks.values()].filter((b) => b.jobId && b.state !== 'ended');
      if (watched.length > 0) {
        const jobs = await this.cli.squeue(this.jobName, this.user);
        for (const b of watched) {
          const job = jobs.get(b.jobId as string);
          if (!job) {
            this.endBlock(b, 'squeue no longer lists the job');
            continue;
          }
          b.schedulerState = job.state;
          if (isTerminalState(job.state)) this.endBlock(b, `Slurm says ${job.state}${job.reason && job.reason !== 'None' ? ` (${job.reason})` : ''}`);
        }
      }
      this.scale();
    } catch (error) {
      this.log.warn(`polling Slurm failed: ${(error as Error).message}`);
    } finally {
      this.polling = false;
      this.options.onChange?.();
    }
  }

  private scheduleScaling(): void {
    if (this.scaleQueued || this.stopping) return;
    this.scaleQueued = true;
    setTimeout(() => {
      this.scaleQueued = false;
      this.scale();
    }, 20).unref();
  }

  private scale(): void {
    if (this.stopping) return;
    const live = [...this.blocks.values()].filter((b) => b.state === 'submitting' || b.state === 'pending' || b.state === 'running');
    const scalingBlocks: ScalingBlock[] = live.map((b) => {
      const busy = busyCount(b);
      const slots = b.state === 'running' ? b.nodes.reduce((n, c) => n + c.slots.length, 0) : this.slotsPerBlock;
      return { id: b.id, state: b.state === 'running' ? 'running' : 'pending', slots, busy, ...(busy === 0 ? { idleSince: b.idleSince } : {}) };
    });
    const decision = decideScaling({
      now: Date.now(),
      queued: this.queue.length,
      blocks: scalingBlocks,
      config: { minBlocks: this.settings.minBlocks, maxBlocks: this.settings.maxBlocks, maxIdleSeconds: this.settings.maxIdleSeconds, slotsPerBlock: this.slotsPerBlock },
    });
    for (let i = 0; i < decision.submit; i++) void this.submitBlock();
    const cancel = decision.cancel.map((id) => this.blocks.get(id)).filter((b): b is Block => b !== undefined && b.jobId !== undefined);
    if (cancel.length > 0) {
      for (const b of cancel) b.state = 'cancelling';
      const jobIds = cancel.map((b) => b.jobId as string);
      this.log.info('scaling in: cancelling idle blocks', { blockIds: cancel.map((b) => b.id), jobIds });
      void this.cli.scancel(jobIds).catch((error: unknown) => this.log.warn(`scancel failed: ${(error as Error).message}`, { jobIds }));
      this.options.onChange?.();
    }
  }
}

function busyCount(block: Block): number {
  let n = 0;
  for (const c of block.nodes) for (const s of c.slots) if (s.running) n++;
  return n;
}

function sendTo(ws: WebSocket, message: AgentToNode): void {
  if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(message));
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function splitHostPort(listen: string): [string, string] {
  const at = listen.lastIndexOf(':');
  if (at < 0) return [listen, '0'];
  return [listen.slice(0, at).replace(/^\[|\]$/g, ''), listen.slice(at + 1)];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

