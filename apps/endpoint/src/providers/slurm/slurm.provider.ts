import { mkdir } from 'node:fs/promises';
import type { BlockReport, PythonReport, TaskSpec } from '@fx/protocol';
import { TaskCancelledError, WalltimeExceededError, abortFailure, failure, type ExecutionOutcome } from '../../runtimes/task.errors.js';
import { TaskLostError, invocationExtras, type BlockStatus, type DeviceStatus, type Provider, type ProviderStatus, type SubmitContext } from '../provider.js';
import { takeResultFile } from './node.results.js';
import { BlockLifecycle } from './block.lifecycle.js';
import { BlockWorkerServer, sendToNode } from './block-worker.server.js';
import { decideScaling, type ScalingBlock } from './scaling.strategy.js';
import { busySlots, hasFreeSlot, placeTasks } from './slot.placement.js';
import { SlurmCli } from './slurm.cli.js';
import type { Block, BlockOptions, NodeConn, Pending, SlurmSettings, Slot } from './slurm.model.js';
import type { AgentToNode } from './worker.channel.js';
import { silentLogger, type Logger } from '../../agent/logger.js';
import { insertByPriority, priorityOf } from '../../agent/priority-order.js';

export type { SlurmSettings } from './slurm.model.js';

export interface SlurmProviderOptions extends BlockOptions {
  endpointName: string;
  endpointId: string;
  cli?: SlurmCli;
  onChange?: () => void;
  logger?: Logger;
}

/**
 * Runs tasks in Slurm pilot jobs ("blocks"). The agent on the login node never runs a task itself: it
 * submits blocks with `sbatch`; each block starts one FX node worker per node (`srun`), which dials back
 * to the agent's listening address and authenticates with the block's secret. Tasks are placed only on
 * a worker slot that can hold their resource request. One `squeue` per poll watches every block; a block
 * that ends (walltime, node failure, scancel) has its running tasks handed back to the server, which
 * requeues them with `attempt + 1`.
 *
 * This class ties the parts together: the block-worker server (the channel to the nodes), the block
 * lifecycle (sbatch, squeue, scancel), slot placement and the scaling strategy (both pure functions).
 */
export class SlurmProvider implements Provider {
  readonly name = 'slurm';
  readonly startsLater = true;
  private readonly settings: SlurmSettings;
  private readonly log: Logger;
  private readonly jobName: string;
  private readonly lifecycle: BlockLifecycle;
  private readonly server: BlockWorkerServer;
  private readonly queue: Pending[] = [];
  private agentAddress = '';
  private pollTimer?: NodeJS.Timeout;
  private scaleQueued = false;
  private polling = false;
  private stopping = false;
  private acceleratorNote?: string;
  /** The Python the latest block worker found on its node (the login node's may differ: not probed). */
  private python?: PythonReport;

  constructor(private readonly options: SlurmProviderOptions) {
    this.settings = options.settings;
    this.log = options.logger ?? silentLogger;
    this.jobName = `fx-${options.endpointName}-${options.endpointId.slice(0, 8)}`.slice(0, 64);
    const onChange = () => this.options.onChange?.();
    this.lifecycle = new BlockLifecycle({
      jobName: this.jobName,
      settings: this.settings,
      ...(options.accelerators !== undefined ? { accelerators: options.accelerators } : {}),
      blocksDir: options.blocksDir,
      ...(options.shellOutputLines !== undefined ? { shellOutputLines: options.shellOutputLines } : {}),
      ...(options.python !== undefined ? { python: options.python } : {}),
      ...(options.resultsDir !== undefined ? { resultsDir: options.resultsDir } : {}),
      cli: options.cli ?? new SlurmCli(),
      logger: this.log,
      agentAddress: () => this.agentAddress,
      isStopping: () => this.stopping,
      rescale: () => this.scheduleScaling(),
      onChange,
    });
    this.server = new BlockWorkerServer({
      listen: this.settings.listen,
      ...(this.settings.address !== undefined ? { address: this.settings.address } : {}),
      logger: this.log,
      findBlock: (id) => this.blocks.get(id),
      isStopping: () => this.stopping,
      onJoin: (conn, note) => this.onJoin(conn, note),
      onDone: (conn, slot, outcome) => this.onDone(conn, slot, outcome),
      onPython: (_conn, report) => {
        this.python = report;
        onChange();
      },
      onLeave: (conn) => {
        this.lifecycle.detach(conn);
        this.scheduleScaling();
        onChange();
      },
    });
  }

  private get blocks(): Map<string, Block> {
    return this.lifecycle.blocks;
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
    if (this.options.resultsDir) await mkdir(this.options.resultsDir, { recursive: true, mode: 0o700 });
    this.agentAddress = await this.server.start();
    this.log.info(
      `block workers dial ${this.agentAddress}; blocks are "${this.jobName}" jobs (${this.settings.minBlocks}..${this.settings.maxBlocks} blocks of ${this.settings.nodesPerBlock} node(s) × ${this.workersPerNode} workers)`,
    );
    for (let i = 0; i < Math.min(this.settings.initBlocks, this.settings.maxBlocks); i++) void this.lifecycle.submit();
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
            : {
                type: 'abort',
                taskId: task.taskId,
                reason: 'cancel',
                message: reason instanceof TaskCancelledError ? reason.message : 'the task was cancelled',
              };
        sendToNode(slot.conn.ws, message);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      // placed in queue order: higher priority first (priority-order.ts)
      insertByPriority(this.queue, pending, (p) => priorityOf(p.task));
      this.place();
      this.scheduleScaling();
    });
  }

  blockReports(): BlockReport[] {
    return this.lifecycle.reports();
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
      ...(this.python ? { python: this.python } : {}),
    };
  }

  /** Cancels every block (one `scancel`) and waits until squeue lists none of them as alive. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.pollTimer) clearInterval(this.pollTimer);
    for (const p of this.queue.splice(0)) p.lose(new TaskLostError('the endpoint stopped before the task started'));
    await this.lifecycle.cancelAll();
    await this.server.close();
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
    if ((r.nodes ?? 1) > this.settings.nodesPerBlock)
      return `the task asks for ${r.nodes} nodes; blocks have ${this.settings.nodesPerBlock} (slurm.nodesPerBlock)`;
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

  /** Puts queued tasks on free slots that can hold them (see placeTasks). */
  private place(): void {
    if (this.queue.length === 0) return;
    const blocks = [...this.blocks.values()].filter((b) => b.state === 'running');
    if (!hasFreeSlot(blocks)) return;
    const placements = placeTasks({ now: Date.now(), blockWalltimeSeconds: this.settings.walltimeSeconds, queue: this.queue, blocks });
    let removed = 0;
    const loaded = new Set<Block>();
    for (const { index, task: p, slot } of placements) {
      this.queue.splice(index - removed++, 1);
      p.slot = slot;
      slot.running = p;
      loaded.add(slot.conn.block);
      sendToNode(slot.conn.ws, { type: 'run', taskId: p.task.taskId, slot: slot.index, task: p.task, ...invocationExtras(p.context) });
      p.context.onStart?.(slot.id);
    }
    for (const block of loaded) this.lifecycle.noteLoad(block);
    this.options.onChange?.();
  }

  // ---- block workers ---------------------------------------------------------------------------

  private onJoin(conn: NodeConn, acceleratorNote: string | undefined): void {
    if (acceleratorNote) this.acceleratorNote = acceleratorNote;
    this.lifecycle.attach(conn);
    sendToNode(conn.ws, { type: 'welcome' });
    this.place();
    this.scheduleScaling();
  }

  private onDone(conn: NodeConn, slot: Slot, outcome: ExecutionOutcome): void {
    const p = slot.running!;
    slot.running = undefined;
    this.lifecycle.noteLoad(conn.block);
    if (busySlots(conn.block) === 0) conn.block.idleSince = Date.now();
    // what the call held: its slot's cores and pinned devices, in this block (the node's word is not needed)
    const held = { cores: slot.cores, gpus: slot.devices.length, blockId: conn.block.id };
    p.settle({ ...(this.options.resultsDir ? takeResultFile(outcome, this.options.resultsDir, p.task.taskId) : outcome), held });
    this.place();
    this.options.onChange?.();
  }

  // ---- scaling -----------------------------------------------------------------------------------

  /** One squeue for every block of this agent, then a scaling decision. */
  private async poll(): Promise<void> {
    if (this.polling || this.stopping) return;
    this.polling = true;
    try {
      await this.lifecycle.refresh();
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
      const busy = busySlots(b);
      const slots = b.state === 'running' ? b.nodes.reduce((n, c) => n + c.slots.length, 0) : this.slotsPerBlock;
      return { id: b.id, state: b.state === 'running' ? 'running' : 'pending', slots, busy, ...(busy === 0 ? { idleSince: b.idleSince } : {}) };
    });
    const decision = decideScaling({
      now: Date.now(),
      queued: this.queue.length,
      blocks: scalingBlocks,
      config: {
        minBlocks: this.settings.minBlocks,
        maxBlocks: this.settings.maxBlocks,
        maxIdleSeconds: this.settings.maxIdleSeconds,
        slotsPerBlock: this.slotsPerBlock,
      },
    });
    for (let i = 0; i < decision.submit; i++) void this.lifecycle.submit();
    const cancel = decision.cancel.map((id) => this.blocks.get(id)).filter((b): b is Block => b !== undefined && b.jobId !== undefined);
    if (cancel.length > 0) this.lifecycle.cancel(cancel);
  }
}
