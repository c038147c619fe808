import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { AgentState } from '../agent/agent.state.js';
import { EndpointAgent, type EndpointAgentOptions } from '../agent/endpoint.agent.js';
import type { FakeFxServer } from './fake-fx-server.js';

/**
 * An agent connected to a spec's FakeFxServer at `url`, spooling under `dir`, reconnecting within
 * 100 ms: started and RUNNING when this resolves. `options` adds to (or overrides) those settings.
 */
export async function runningAgent(
  server: FakeFxServer,
  url: string,
  dir: string,
  options: Pick<EndpointAgentOptions, 'name' | 'provider'> & Partial<EndpointAgentOptions>,
): Promise<EndpointAgent> {
  const agent = new EndpointAgent({
    url,
    token: server.endpointToken,
    spoolDir: join(dir, 'spool'),
    reconnect: { initialDelayMs: 20, maxDelayMs: 100 },
    ...options,
  });
  await agent.start();
  await agent.waitForState(AgentState.RUNNING);
  return agent;
}

/** Ends what a spec started: the agent (killing its work), the fake server, and the spec's directory. */
export async function stopAll(agent: EndpointAgent | undefined, server: FakeFxServer | undefined, dir: string): Promise<void> {
  await agent?.stop({ force: true });
  await server?.close();
  await rm(dir, { recursive: true, force: true });
}
