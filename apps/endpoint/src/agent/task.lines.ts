import { formatLogLine, logLineHead, type LogLevel } from '@fx/protocol';
import type { LogFields, Logger } from './logger.js';

/** The least level of the agent's lines about a task that go on the task's stream; `off`: none. */
export type TaskLogLevel = LogLevel | 'off';

/**
 * Where a line about a task goes besides the log: `attempt` when the line names it, else the sink
 * finds the attempt the agent holds (and drops the line when it holds none).
 */
export type TaskLineSink = (taskId: string, attempt: number | undefined, text: string) => void;

const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/** Facts that the stream line leaves out: the stream is already the task's, and the endpoint's. */
const IMPLIED = new Set(['taskId', 'attempt', 'endpointId', 'copy']);

/**
 * The agent's lines about a task (issue 17): every log line with a `taskId` field goes to the log as
 * usual and, at `level` or above, onto that task's live stream as a LogChunk of stream `agent`, so
 * `fx logs <task> --agent` shows the endpoint's side without shell access to it. The stream's level is
 * its own: an endpoint whose log shows only warnings still streams its info lines about each task. In
 * the log itself a task's info lines are written at debug (warnings and errors stay as they are).
 * Lines of a speculative copy (`copy: true`) stay in the log: a copy streams nothing (see LiveStreams).
 *
 * Cheap by construction: a line without `taskId` costs one property read; nothing is kept per task here.
 * The sink is attached once the agent that owns the streams exists, so the provider (made before the
 * agent) can be handed a logger that taps into them too.
 */
export class TaskLines {
  private sink?: TaskLineSink;
  private readonly least: number;
  /** The last line's time, and its ISO text: the lines of one turn share the millisecond. */
  private lastMs = NaN;
  private lastIso = '';

  constructor(readonly level: TaskLogLevel = 'info') {
    this.least = level === 'off' ? Infinity : RANK[level];
  }

  /** Where the lines go from now on (the agent's live streams). */
  attach(sink: TaskLineSink): void {
    this.sink = sink;
  }

  /** `base`, with every line about a task also offered to the task's stream. */
  logger(base: Logger): Logger {
    return this.tapped(base, {});
  }

  private tapped(base: Logger, bound: LogFields): Logger {
    const unbound = Object.keys(bound).length === 0;
    const at =
      (level: LogLevel) =>
      (message: string, fields?: LogFields): void => {
        const aboutTask = typeof (fields?.taskId ?? bound.taskId) === 'string';
        // A few routine lines per task would bury everything else in endpoint.log (10,000 tasks: 40,000
        // lines): there they are debug; the task's own stream still carries them at info.
        base[aboutTask && level === 'info' ? 'debug' : level](message, fields);
        if (!this.sink || !aboutTask || RANK[level] < this.least) return;
        // three lines per task on the plain path: no copy of the fields when nothing is bound (offer only reads them)
        this.offer(level, message, unbound && fields ? fields : { ...bound, ...fields });
      };
    return {
      debug: at('debug'),
      info: at('info'),
      warn: at('warn'),
      error: at('error'),
      child: (fields) => this.tapped(base.child(fields), { ...bound, ...fields }),
    };
  }

  private offer(level: LogLevel, message: string, fields: LogFields): void {
    if (fields.copy === true) return;
    let facts: LogFields | undefined;
    // what the sentence already says (`started on worker w3`) is not repeated as `worker=w3`
    for (const k in fields) {
      if (!Object.hasOwn(fields, k) || IMPLIED.has(k)) continue;
      const v = fields[k];
      if (!(typeof v === 'string' && message.includes(v))) (facts ??= {})[k] = v;
    }
    const now = Date.now();
    if (now !== this.lastMs) {
      this.lastMs = now;
      this.lastIso = new Date(now).toISOString();
    }
    // The routine lines have no facts left: formatLogLine's line without building a record for it.
    const text = facts === undefined ? `${logLineHead(this.lastIso, level, message)}\n` : formatLogLine({ time: this.lastIso, level, msg: message, ...facts });
    this.sink?.(fields.taskId as string, typeof fields.attempt === 'number' ? fields.attempt : undefined, text);
  }
}
