/**
 * The FX worker of one node of a block: started inside the Slurm allocation (by `srun`, one per node),
 * it dials the agent, proves it belongs to the block with the block's secret, and runs the tasks the
 * agent places on its worker slots. It never outlives its connection: when the agent or the block goes,
 * so does it (and every process it started).
 */
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { WS_CLOSE } from '@fx/protocol';
import { resolveAccelerators, pinningEnv } from '../../accelerators/accelerators.js';
import { TaskCancelledError, WalltimeExceededError } from '../../runtimes/task.errors.js';
import { SlotRunner } from '../slots/slot.runner.js';
import { PythonProbe } from '../../runtimes/python/python.probe.js';
import { WorkerSandbox } from '../sandbox/worker.sandbox.js';
import type { MpiLauncher } from '../slots/mpi.launcher.js';
import { AgentToNode, type NodeToAgent, type WorkerSlot } from './worker.channel.js';
import { createConsoleLogger } from '../../agent/logger.js';
import { BLOCK_SECRET_VAR, blockWorkerEnv } from './block-worker.config.js';
import { shareResultFile } from './node.results.js';
import { NodeLive } from './node.live.js';

const { values } = parseArgs({
  options: {
    agent: { type: 'string' },
    block: { type: 'string' },
    workers: { type: 'string', default: '1' },
    cores: { type: 'string', default: '1' },
    'mpi-launcher': { type: 'string', default: 'srun' },
    'output-lines': { type: 'string', default: '1000' },
    accelerators: { type: 'string' },
    python: { type: 'string' },
    'results-dir': { type: 'string' },
  },
});
// Read once; the secret leaves the environment here, before any task could inherit it.
const { logLevel, logFormat, secret } = blockWorkerEnv();
// To the block's Slurm output file: JSON (pino adds hostname and pid), each line with the block's id.
const log = createConsoleLogger(logLevel, { format: logFormat }).child({ blockId: values.block });
if (!values.agent || !values.block || secret === '') {
  log.error(`usage: block.worker.js --agent ws://host:port --block <id> (with ${BLOCK_SECRET_VAR} set); it is started by an FX block job`);
  process.exit(2);
}

const setting =
  values.accelerators === undefined ? undefined : values.accelerators === 'auto' ? 'auto' : values.accelerators.split(',').filter((s) => s !== '');
const detected = await resolveAccelerators(setting);
if (detected.note) log.info(detected.note);
const node = hostname();
const pinned = detected.devices.length > 0;
// One worker per accelerator when pinning, never more.
const count = pinned ? detected.devices.length : Math.max(1, Number(values.workers));
const cores = Math.max(1, Number(values.cores));
// Tasks get the block's environment (what workerInit built: modules, Slurm's and MPI's variables) without
// FX's own settings or anything named like a secret, and private dirs under the node's temp dir; no
// bubblewrap here: srun and MPI launchers need the allocation's view of the node.
const sandbox = new WorkerSandbox({ kind: 'none', inherit: 'all-but-secrets' });
// One probe for the node: every slot's python worker runs the same interpreter.
const python = new PythonProbe({ ...(values.python !== undefined ? { python: values.python } : {}), sandbox, logger: log });
python.start();
const slots: WorkerSlot[] = [];
const runners: SlotRunner[] = [];
for (let i = 0; i < count; i++) {
  const device = pinned ? detected.devices[i]!.id : undefined;
  slots.push({ index: i, cores, devices: device === undefined ? [] : [device] });
  runners.push(
    new SlotRunner({
      id: `${values.block}/${node}/w${i}`,
      ...(device !== undefined ? { env: pinningEnv(device) } : {}),
      shellOutputLines: Number(values['output-lines']),
      sandbox,
      mpiLauncher: values['mpi-launcher'] as MpiLauncher,
      ...(values.python !== undefined ? { python: values.python } : {}),
      pythonProbe: python,
      logger: log,
    }),
  );
}
await Promise.all(runners.map((r) => r.start()));

const aborts = new Map<string, AbortController>();
let stopping = false;
let socket: WebSocket | undefined;
const shutdown = async (code: number) => {
  if (stopping) return;
  stopping = true;
  // Tasks cut short here get no result from us: the agent sees the connection go and hands them back.
  socket?.terminate();
  for (const c of aborts.values()) c.abort(new TaskCancelledError('the block worker is stopping'));
  await Promise.all(runners.map((r) => r.stop().catch(() => undefined)));
  process.exit(code);
};
process.on('SIGTERM', () => void shutdown(0));
process.on('SIGINT', () => void shutdown(0));

function connect(attempt: number): void {
  const ws = new WebSocket(values.agent as string, { handshakeTimeout: 10_000, maxPayload: 256 * 1024 * 1024 });
  socket = ws;
  let welcomed = false;
  const send = (message: NodeToAgent) => {
    if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(message));
  };
  ws.on('open', () =>
    send({
      type: 'hello',
      blockId: values.block as string,
      secret,
      node,
      pid: process.pid,
      slots,
      ...(detected.note ? { acceleratorNote: detected.note } : {}),
    }),
  );
  ws.on('message', (data) => {
    let message: AgentToNode;
    try {
      message = AgentToNode.parse(JSON.parse(data.toString()));
    } catch (error) {
      log.warn(`ignoring a bad frame from the agent: ${(error as Error).message}`);
      return;
    }
    if (message.type === 'welcome') {
      welcomed = true;
      log.info(`connected to the agent at ${values.agent} with ${slots.length} workers`);
      // the endpoint's status shows the Python of its compute nodes, which only a node can see
      void python
        .inspect()
        .catch(() => undefined)
        .then(() => {
          const report = python.report();
          if (report) send({ type: 'python', report });
        });
    } else if (message.type === 'run') {
      const runner = runners[message.slot];
      if (!runner) return;
      const controller = new AbortController();
      aborts.set(message.taskId, controller);
      const live = new NodeLive(message.taskId, (m) => {
        if (!stopping) send(m);
      });
      const context = {
        live,
        maxResultBytes: message.maxResultBytes,
        ...(message.inlineResultBytes !== undefined ? { inlineResultBytes: message.inlineResultBytes } : {}),
        ...(message.resultToFile ? { resultToFile: true } : {}),
        ...(message.objects ? { objects: message.objects } : {}),
      };
      void runner
        .run(message.task, controller.signal, context)
        .then((outcome) => shareResultFile(outcome, message.taskId, values['results-dir']))
        .then((outcome) => {
          aborts.delete(message.taskId);
          // its live items go first: the agent sends a task's items before its result
          live.end();
          if (!stopping) send({ type: 'done', taskId: message.taskId, outcome });
        });
    } else if (message.type === 'abort') {
      const reason = message.reason === 'walltime' ? new WalltimeExceededError(message.walltimeSeconds ?? 0) : new TaskCancelledError(message.message);
      aborts.get(message.taskId)?.abort(reason);
    }
  });
  ws.on('error', (error) => log.warn(`connection to ${values.agent}: ${error.message}`));
  ws.on('close', (code) => {
    if (stopping) return;
    const refused = code === WS_CLOSE.unauthorized;
    if (welcomed || refused) {
      // The agent went away (or refused us): this block's work is over.
      // The agent stopping or scaling in ends a block on purpose; a refusal (4401) is worth a warning.
      log[refused ? 'warn' : 'info'](`the agent closed the connection (${code}); exiting`);
      void shutdown(refused ? 3 : 0);
      return;
    }
    if (attempt >= 60) {
      log.error('could not reach the agent for a minute; exiting');
      void shutdown(1);
      return;
    }
    setTimeout(() => connect(attempt + 1), 1000);
  });
}
connect(0);
