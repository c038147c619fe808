/** The agent's lifecycle, after Temporal's Worker. */
export const AgentState = {
  /** Loading the spool, starting workers. */
  INITIALIZING: 'INITIALIZING',
  /** Workers are up; no welcomed connection (first dial or reconnecting). Tasks already held keep running. */
  CONNECTING: 'CONNECTING',
  /** Welcomed by the server: granting credits and running tasks. */
  RUNNING: 'RUNNING',
  /** Stopping: no new credits, running tasks finish, results are flushed and acknowledged. */
  DRAINING: 'DRAINING',
  STOPPED: 'STOPPED',
  /** Stopped for a reason retrying cannot fix (refused token or protocol version, workers cannot start). */
  FAILED: 'FAILED',
} as const;
export type AgentState = (typeof AgentState)[keyof typeof AgentState];

const TRANSITIONS: Record<AgentState, readonly AgentState[]> = {
  INITIALIZING: ['CONNECTING', 'DRAINING', 'FAILED'],
  CONNECTING: ['RUNNING', 'DRAINING', 'FAILED'],
  RUNNING: ['CONNECTING', 'DRAINING', 'FAILED'],
  DRAINING: ['STOPPED', 'FAILED'],
  STOPPED: [],
  FAILED: [],
};

export class IllegalStateTransitionError extends Error {
  constructor(
    readonly from: AgentState,
    readonly to: AgentState,
  ) {
    super(`the agent cannot go from ${from} to ${to}`);
    this.name = 'IllegalStateTransitionError';
  }
}

export function assertTransition(from: AgentState, to: AgentState): void {
  if (!TRANSITIONS[from].includes(to)) throw new IllegalStateTransitionError(from, to);
}

export function isFinalState(state: AgentState): boolean {
  return state === 'STOPPED' || state === 'FAILED';
}
