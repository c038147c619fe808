import { FakeFxServer, GOOD_TOKEN } from './__fixtures__/fake-fx-server.js';
import { Client } from './client.js';
import { LIST_FUNCTIONS_SOURCE_BYTES } from './client.registry.js';

/**
 * listFunctions reads other users' public functions too, each with a source of their choosing, and
 * follows the server's pages: it stops at `limit` functions and after about 64 MiB of sources, and
 * asks for names only with `source: false`.
 */
let server: FakeFxServer;
let client: Client;
beforeEach(async () => {
  server = await new FakeFxServer().start();
  client = new Client({ url: server.url, token: GOOD_TOKEN });
});
afterEach(async () => {
  client.close();
  await server.stop();
});

/** GET /v1/functions answered by endless pages of `perPage` copies of one function with this source. */
async function endlessPages(perPage: number, source: string) {
  const id = await client.registerFunction((x: number) => x, { name: 'f' });
  const info = server.functions.get(id)!;
  let page = 0;
  server.override = (req) => {
    if (req.method !== 'GET' || req.path !== '/v1/functions') return undefined;
    const query = req.query;
    const items = Array.from({ length: Math.min(perPage, Number(query.get('limit'))) }, () => ({
      ...info,
      source: query.get('source') === 'false' ? '' : source,
    }));
    return { status: 200, body: { items, nextCursor: `page-${++page}` } };
  };
  const pages = () => server.requestsTo('GET', '/v1/functions');
  return { pages };
}

describe('listFunctions', () => {
  it('stops at limit functions (1,000 by default), asking no page for more than it keeps', async () => {
    const { pages } = await endlessPages(300, '(x) => x');
    expect(await client.listFunctions()).toHaveLength(1000);
    expect(pages().map((r) => r.query.get('limit'))).toEqual(['1000', '700', '400', '100']);
    expect(await client.listFunctions({ limit: 5 })).toHaveLength(5);
  });

  it('stops after the page that brings the sources read to 64 MiB', async () => {
    const source = 'x'.repeat(8 * 1024 * 1024);
    const { pages } = await endlessPages(1, source);
    const list = await client.listFunctions();
    expect(list).toHaveLength(LIST_FUNCTIONS_SOURCE_BYTES / source.length);
    expect(pages()).toHaveLength(8);
  });

  it('with source: false asks the server for names only', async () => {
    const { pages } = await endlessPages(1000, 'x'.repeat(1024));
    const list = await client.listFunctions({ source: false, limit: 3000 });
    expect(list).toHaveLength(3000);
    expect(list.every((f) => f.source === '')).toBe(true);
    expect(pages().every((r) => r.query.get('source') === 'false')).toBe(true);
  });
});
