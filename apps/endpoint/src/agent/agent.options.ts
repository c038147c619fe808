import type { TaskLimits } from '../config/task-limits.js';
import type { EndpointObjectsOptions } from '../objects/endpoint.objects.js';
import type { Provider } from '../providers/provider.js';
import type { Logger } from './logger.js';
import type { TaskLines } from './task.lines.js';

export interface EndpointAgentOptions {
  /** The server's http(s) URL; the socket goes to `ws(s)://…/v1/ws/endpoint` under it. */
  url: string;
  /** The endpoint token (not a user token). */
  token: string;
  /** The endpoint's name, for `hello` and the status file. */
  name: string;
  /** Shown in the status file. */
  endpointId?: string;
  provider: Provider;
  /** Where unacknowledged results wait (`$FX_HOME/endpoints/<name>/spool`). */
  spoolDir: string;
  /**
   * Data by reference: the object cache (inputs fetched once per endpoint) and results stored as objects.
   * @default `dir` beside spoolDir (`$FX_HOME/endpoints/<name>/objects`), the defaults of EndpointObjectsOptions
   */
  objects?: Partial<EndpointObjectsOptions>;
  /** When set, the agent keeps a status snapshot here (atomic rewrite on changes and heartbeats). */
  statusFile?: string;
  reconnect?: {
    /** @default 250 */
    initialDelayMs?: number;
    /** @default 10000 */
    maxDelayMs?: number;
  };
  /**
   * On stop, how long running tasks may take to finish before they are abandoned (their leases then
   * return them to the queue server-side).
   * @default 30
   */
  drainTimeoutSeconds?: number;
  /**
   * Tasks to hold beyond the free worker slots, so a worker that frees up has its next task at hand.
   * @default the provider's capacity, and at least 256
   */
  prefetch?: number;
  /** Walltime default and maximum of every task (config.yaml's taskLimits). @default DEFAULT_TASK_LIMITS */
  taskLimits?: TaskLimits;
  /**
   * How long `started` updates, results and credit grants may wait to be coalesced into one frame.
   * @default 5
   */
  flushIntervalMs?: number;
  /**
   * Most results in one `results` frame (and one spool file).
   * @default 500
   */
  maxResultsPerFrame?: number;
  /**
   * How long to wait for `welcome` after the socket opens.
   * @default 10000
   */
  handshakeTimeoutMs?: number;
  /**
   * Least time between two status-file rewrites.
   * @default 200
   */
  statusIntervalMs?: number;
  /**
   * Characters of live log text sent per task attempt (config.yaml's `maxTaskLogMB`); past it text is
   * dropped and the server told how much (`truncated`). What the task's result carries is not affected.
   * @default 1 MiB
   */
  maxTaskLogChars?: number;
  /** @default silent */
  logger?: Logger;
  /**
   * Where the agent's lines about a task go besides the log (its live stream, stream `agent`). Given,
   * `logger` must be its `logger(…)` already (so the provider, made with the same logger, streams its
   * lines about tasks too); absent, the agent taps `logger` itself at level info.
   * @default new TaskLines('info')
   */
  taskLines?: TaskLines;
  /**
   * Replace an agent already serving this endpoint (it is told to stop). Without it, the server refuses
   * this agent while another one runs, and the agent ends FAILED with the server's sentence.
   * @default false
   */
  takeover?: boolean;
}
