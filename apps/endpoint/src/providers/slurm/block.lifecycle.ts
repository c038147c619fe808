import { randomBytes } from 'node:crypto';
import { chmod, writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WS_CLOSE, type BlockReport } from '@fx/protocol';
import { TaskLostError } from '../provider.js';
import type { Logger } from '../../agent/logger.js';
import { renderBlockScript } from './block.script.js';
import type { Block, BlockOptions, NodeConn, Slot } from './slurm.model.js';
import { isTerminalState, type SlurmCli } from './slurm.cli.js';
import { formatWalltime } from './walltime.js';
import { BlockClock, BlockLedger } from './block.accounting.js';
import { busySlots } from './slot.placement.js';

export interface BlockLifecycleOptions extends BlockOptions {
  /** Every block of this agent is a job of this name (one squeue finds them all). */
  jobName: string;
  cli: SlurmCli;
  logger: Logger;
  /** The `ws://host:port/` the block workers dial (known once the block-worker server listens). */
  agentAddress: () => string;
  isStopping: () => boolean;
  /** A block ended that was not being scaled in: the provider may want another. */
  rescale: () => void;
  onChange: () => void;
}

const WORKER_ENTRY = fileURLToPath(new URL('./block.worker.js', import.meta.url));

/**
 * The blocks of one agent against Slurm: submitted with `sbatch` (a script with a fresh secret per
 * block), running once a node's worker joins, watched with one `squeue` per poll, cancelled with
 * `scancel`, and ended (their running tasks lost, so the server requeues them) whichever way they go.
 */
export class BlockLifecycle {
  readonly blocks = new Map<string, Block>();
  private readonly user = userInfo().username;
  private seq = 0;
  /** Ended blocks' final figures, kept for the heartbeats after. */
  private readonly ledger: BlockLedger;

  constructor(private readonly options: BlockLifecycleOptions) {
    this.ledger = new BlockLedger(options.settings.nodesPerBlock);
  }

  /** Reports of the blocks for a heartbeat: live ones, then the latest ended ones (block.accounting.ts). */
  reports(): BlockReport[] {
    return this.ledger.reports(
      [...this.blocks.values()].filter((b) => b.state !== 'ended'),
      Date.now(),
    );
  }

  /** The number of tasks running on the block may have changed: its busy / idle clock turns now. */
  noteLoad(block: Block): void {
    block.clock?.set(busySlots(block), Date.now());
  }

  /** Writes a block's script and submits it; a block that cannot be submitted ends at once. */
  async submit(): Promise<void> {
    const { settings, blocksDir, cli, logger: log } = this.options;
    const id = `b${++this.seq}-${randomBytes(3).toString('hex')}`;
    const block: Block = { id, secret: randomBytes(32).toString('hex'), state: 'submitting', submittedAt: Date.now(), idleSince: Date.now(), nodes: [] };
    this.blocks.set(id, block);
    this.options.onChange();
    const script = join(blocksDir, `${id}.sh`);
    try {
      const text = renderBlockScript({
        jobName: this.options.jobName,
        blockId: id,
        secret: block.secret,
        agentAddress: this.options.agentAddress(),
        outputPath: join(blocksDir, `${id}-%j.log`),
        walltime: formatWalltime(settings.walltimeSeconds),
        nodesPerBlock: settings.nodesPerBlock,
        workersPerNode: settings.workersPerNode,
        ...(settings.coresPerWorker !== undefined ? { coresPerWorker: settings.coresPerWorker } : {}),
        ...(settings.partition ? { partition: settings.partition } : {}),
        ...(settings.account ? { account: settings.account } : {}),
        ...(settings.qos ? { qos: settings.qos } : {}),
        schedulerOptions: settings.schedulerOptions,
        workerInit: settings.workerInit,
        launcher: settings.launcher,
        mpiLauncher: settings.mpiLauncher,
        ...(this.options.accelerators !== undefined ? { accelerators: this.options.accelerators } : {}),
        nodePath: process.execPath,
        workerEntry: WORKER_ENTRY,
        shellOutputLines: this.options.shellOutputLines ?? 1000,
        ...(this.options.python !== undefined ? { python: this.options.python } : {}),
        ...(this.options.resultsDir !== undefined ? { resultsDir: this.options.resultsDir } : {}),
      });
      await writeFile(script, text, { mode: 0o600 });
      await chmod(script, 0o600);
      block.jobId = await cli.sbatch(script);
      if (block.state === 'submitting') block.state = 'pending';
      log.info(`submitted a block as job ${block.jobId}`, { blockId: id, jobId: block.jobId });
      if (this.options.isStopping()) await cli.scancel([block.jobId]).catch(() => undefined);
    } catch (error) {
      log.warn(`could not submit a block: ${(error as Error).message}`, { blockId: id });
      block.state = 'ended';
      this.closeAccount(block);
      setTimeout(() => this.blocks.delete(id), 60_000).unref();
    }
    this.options.onChange();
  }

  /** A node's worker joined: the block runs from its first node on. */
  attach(conn: NodeConn): void {
    const block = conn.block;
    block.nodes.push(conn);
    if (block.state !== 'running') {
      block.state = 'running';
      block.startedAt = Date.now();
      block.idleSince = Date.now();
      block.clock = new BlockClock(block.startedAt);
      this.options.logger.info(`block is running: ${conn.node} with ${conn.slots.length} workers`, { blockId: block.id, jobId: block.jobId });
    }
  }

  /** A node's worker left: its tasks are lost; a block left with no node is over. */
  detach(conn: NodeConn): void {
    const block = conn.block;
    block.nodes = block.nodes.filter((n) => n !== conn);
    loseSlots(conn.slots, `block ${block.id} (job ${block.jobId ?? '?'}) lost node ${conn.node}`);
    this.noteLoad(block);
    if (block.nodes.length === 0 && block.state === 'running') {
      // Every worker of the block is gone: the block is over, whatever squeue says yet.
      this.end(block, 'its workers disconnected');
      if (block.jobId && !this.options.isStopping()) void this.options.cli.scancel([block.jobId]).catch(() => undefined);
    }
  }

  end(block: Block, why: string): void {
    if (block.state === 'ended') return;
    const was = block.state;
    block.state = 'ended';
    this.options.logger.info(`block ended: ${why}`, { blockId: block.id, jobId: block.jobId });
    for (const n of block.nodes) {
      loseSlots(n.slots, `block ${block.id} (job ${block.jobId ?? '?'}) ended: ${why}`);
      n.ws.close(WS_CLOSE.goingAway, 'block ended');
    }
    block.nodes = [];
    this.closeAccount(block);
    // Keep ended blocks briefly for status, then forget them.
    setTimeout(() => this.blocks.delete(block.id), 60_000).unref();
    if (was !== 'cancelling') this.options.rescale();
    this.options.onChange();
  }

  /** One squeue for every block of this agent: blocks Slurm no longer runs end. */
  async refresh(): Promise<void> {
    const watched = [...this.blocks.values()].filter((b) => b.jobId && b.state !== 'ended');
    if (watched.length === 0) return;
    const jobs = await this.options.cli.squeue(this.options.jobName, this.user);
    for (const b of watched) {
      const job = jobs.get(b.jobId as string);
      if (!job) {
        this.end(b, 'squeue no longer lists the job');
        continue;
      }
      b.schedulerState = job.state;
      if (isTerminalState(job.state)) this.end(b, `Slurm says ${job.state}${job.reason && job.reason !== 'None' ? ` (${job.reason})` : ''}`);
    }
  }

  /** Scales in: one scancel for these (idle) blocks; they end when squeue or their workers say so. */
  cancel(blocks: Block[]): void {
    for (const b of blocks) b.state = 'cancelling';
    const jobIds = blocks.map((b) => b.jobId as string);
    this.options.logger.info('scaling in: cancelling idle blocks', { blockIds: blocks.map((b) => b.id), jobIds });
    void this.options.cli.scancel(jobIds).catch((error: unknown) => this.options.logger.warn(`scancel failed: ${(error as Error).message}`, { jobIds }));
    this.options.onChange();
  }

  /** Cancels every block (one `scancel`) and waits until squeue lists none of them as alive. */
  async cancelAll(): Promise<void> {
    const { cli, logger: log } = this.options;
    const live = [...this.blocks.values()].filter((b) => b.jobId && b.state !== 'ended');
    // Blocks still being submitted get their job id soon; wait for them briefly so none escapes.
    const deadline = Date.now() + 30_000;
    while ([...this.blocks.values()].some((b) => b.state === 'submitting') && Date.now() < deadline) await sleep(100);
    const ids = [...new Set([...live, ...[...this.blocks.values()].filter((b) => b.jobId && b.state !== 'ended')].map((b) => b.jobId as string))];
    if (ids.length > 0) {
      log.info('stopping: cancelling the blocks', { jobIds: ids });
      await cli.scancel(ids).catch((error: unknown) => log.warn(`scancel failed: ${(error as Error).message}`, { jobIds: ids }));
    }
    for (const b of this.blocks.values()) for (const n of b.nodes) n.ws.close(WS_CLOSE.goingAway, 'agent stopping');
    while (ids.length > 0 && Date.now() < deadline) {
      const jobs = await cli.squeue(this.options.jobName, this.user).catch(() => undefined);
      if (
        jobs &&
        ids.every((id) => {
          const j = jobs.get(id);
          return !j || isTerminalState(j.state);
        })
      )
        break;
      await sleep(250);
    }
    for (const b of this.blocks.values()) {
      if (b.state !== 'ended') this.closeAccount(b);
      b.state = 'ended';
    }
  }

  /** The block is over: its clock stops and its final figures join the ended reports. */
  private closeAccount(block: Block): void {
    const now = Date.now();
    block.clock?.end(now);
    this.ledger.close(block, now);
  }
}

/** The tasks running on these slots went with them: each is handed back (TaskLostError). */
export function loseSlots(slots: Slot[], why: string): void {
  for (const slot of slots) {
    const p = slot.running;
    if (!p) continue;
    slot.running = undefined;
    p.lose(new TaskLostError(why));
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
