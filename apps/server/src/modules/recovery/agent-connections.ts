/**
 * The agent connections this replica holds, as the recovery sweep needs them: it reclaims the stale
 * delivery leases of their endpoints. Provided by the agents module under AGENT_CONNECTIONS, so that
 * recovery depends on this interface and not on the agents module.
 */
export interface AgentConnections {
  /** Endpoints whose agent is connected to this replica. */
  endpointIds(): Iterable<string>;
}

export const AGENT_CONNECTIONS = Symbol('AGENT_CONNECTIONS');
