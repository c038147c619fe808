import net, { type AddressInfo } from 'node:net';

/** A TCP proxy in front of a server; `down()` is the bytes it has carried from the server to its clients. */
export interface CountingProxy {
  url: string;
  down(): number;
  close(): Promise<void>;
}

/**
 * A TCP proxy to `target` that counts the bytes it carries from the server to its clients: put between
 * an agent and the server, it shows how many bytes the agent really fetched (an input shared by many
 * tasks must cross once).
 */
export async function countingProxy(target: URL): Promise<CountingProxy> {
  let down = 0;
  const sockets = new Set<net.Socket>();
  const proxy = net.createServer((client) => {
    const upstream = net.connect(Number(target.port), target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    upstream.on('data', (chunk: Buffer) => (down += chunk.length));
    client.pipe(upstream);
    upstream.pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`,
    down: () => down,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
    },
  };
}
