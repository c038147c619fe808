import type { Client } from '@fx/sdk';
import { EndpointProcess, eventually, type ServerAddress } from '@fx/testing';

export interface MemberOptions {
  workers: number;
  /** More of its config.yaml, beyond `sandbox: 'none'` (its tasks append to marker files). */
  config?: Record<string, unknown>;
  /** Added to the agent's environment (LC_* variables reach its tasks). */
  env?: Record<string, string>;
}

/**
 * An agent for an endpoint-group member, started and online: pushed to `agents` first, so that the
 * test's logs and teardown include it even when it never comes online.
 */
export async function startMember(
  server: ServerAddress,
  client: Client,
  agents: EndpointProcess[],
  name: string,
  options: MemberOptions,
): Promise<EndpointProcess> {
  const ep = await EndpointProcess.configure(server, name, { workers: options.workers });
  await ep.mergeConfig({ sandbox: 'none', ...options.config });
  if (options.env) ep.env = { ...ep.env, ...options.env };
  ep.start();
  agents.push(ep);
  await eventually(async () => (await client.getEndpoint(ep.endpointId)).state === 'online', 30_000, `${name} online`);
  return ep;
}
