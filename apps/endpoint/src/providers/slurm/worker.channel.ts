import { z } from 'zod';
import { AttemptUsage, ObjectEncoding, PythonReport, RemoteError, Sha256Hex, TaskSpec, Uuid } from '@fx/protocol';

/** The channel between the agent and the node workers inside its blocks (JSON frames over a websocket). */

export const WorkerSlot = z.object({
  index: z.number().int().min(0),
  cores: z.number().int().min(1),
  devices: z.array(z.string()),
});
export type WorkerSlot = z.infer<typeof WorkerSlot>;

export const NodeHello = z.object({
  type: z.literal('hello'),
  blockId: z.string().min(1).max(64),
  secret: z.string().min(1).max(256),
  node: z.string().max(256),
  pid: z.number().int(),
  slots: z.array(WorkerSlot).min(1).max(4096),
  acceleratorNote: z.string().max(1024).optional(),
});

/**
 * A result the node stored as a file for the agent to upload: in the endpoint's `objects/incoming`
 * directory, on the filesystem the login node and the compute nodes share.
 */
export const NodeResultFile = z.object({ path: z.string().max(4096), size: z.number().int().min(0), encoding: ObjectEncoding });

/** What the call used, as the node's worker measured it (usage.meter.ts); the agent adds what the slot held. */
const NodeUsage = AttemptUsage.pick({ wallMs: true, cpuMs: true, maxRssBytes: true });

export const Outcome = z.union([
  z.object({
    status: z.literal('success'),
    result: z.unknown(),
    workerId: z.string().optional(),
    usage: NodeUsage.optional(),
    resultPath: NodeResultFile.optional(),
    outputPaths: z
      .array(NodeResultFile.extend({ name: z.string().max(1024) }))
      .max(1000)
      .optional(),
  }),
  z.object({ status: z.literal('failed'), error: RemoteError, workerId: z.string().optional(), usage: NodeUsage.optional() }),
]);

export const NodeDone = z.object({ type: z.literal('done'), taskId: z.string(), outcome: Outcome });

/** The node's Python as its workers see it (after workerInit), probed once the agent has welcomed it. */
export const NodePython = z.object({ type: z.literal('python'), report: PythonReport });

/** What a running task emitted and printed lately (node.live.ts), throttled on the node. */
export const NodeLive = z.object({
  type: z.literal('live'),
  taskId: z.string(),
  progress: z.object({ seq: z.number().int().min(1), at: z.number(), json: z.string() }).optional(),
  logs: z
    .array(z.object({ stream: z.enum(['stdout', 'stderr']), at: z.number(), text: z.string() }))
    .max(100_000)
    .optional(),
});

export const NodeToAgent = z.discriminatedUnion('type', [NodeHello, NodeDone, NodePython, NodeLive]);
export type NodeToAgent = z.infer<typeof NodeToAgent>;

/** An object of the task, in the agent's cache on the shared filesystem (see ObjectPlacement). */
export const NodeObjectPlacement = z.object({
  at: z.array(z.union([z.string(), z.number().int()])).min(2),
  file: z.string().max(4096),
  encoding: ObjectEncoding,
  id: Uuid,
  sha256: Sha256Hex,
  size: z.number().int().min(0),
});

export const AgentRun = z.object({
  type: z.literal('run'),
  taskId: z.string(),
  slot: z.number().int(),
  task: TaskSpec,
  maxResultBytes: z.number().int(),
  inlineResultBytes: z.number().int().optional(),
  resultToFile: z.boolean().optional(),
  objects: z.array(NodeObjectPlacement).optional(),
});
export const AgentAbort = z.object({
  type: z.literal('abort'),
  taskId: z.string(),
  reason: z.enum(['walltime', 'cancel']),
  walltimeSeconds: z.number().optional(),
  message: z.string().optional(),
});
export const AgentWelcome = z.object({ type: z.literal('welcome') });

export const AgentToNode = z.discriminatedUnion('type', [AgentRun, AgentAbort, AgentWelcome]);
export type AgentToNode = z.infer<typeof AgentToNode>;
