import { Injectable } from '@nestjs/common';
import type { AgentConnections } from '../recovery/agent-connections.js';
import type { EndpointConnection } from './endpoint-connection.js';

/**
 * The agent connections of this replica, one per endpoint (one agent serves an endpoint at a time).
 * The ws adapter has no rooms: this is the explicit registry dispatch, liveness and recovery read.
 */
@Injectable()
export class ConnectionRegistry implements AgentConnections {
  private readonly connections = new Map<string, EndpointConnection>();

  /** The connection replaced for the same endpoint, if any (one agent per endpoint). */
  attach(conn: EndpointConnection): EndpointConnection | undefined {
    const previous = this.connections.get(conn.endpointId);
    this.connections.set(conn.endpointId, conn);
    return previous;
  }

  /** The connection of this endpoint's agent on this replica, if any. */
  current(endpointId: string): EndpointConnection | undefined {
    return this.connections.get(endpointId);
  }

  detach(conn: EndpointConnection): boolean {
    if (this.connections.get(conn.endpointId) !== conn) return false;
    this.connections.delete(conn.endpointId);
    return true;
  }

  all(): IterableIterator<EndpointConnection> {
    return this.connections.values();
  }

  endpointIds(): Iterable<string> {
    return [...this.connections.values()].map((c) => c.endpointId);
  }
}
