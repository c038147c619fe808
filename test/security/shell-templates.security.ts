import { jest } from '@jest/globals';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@fx/sdk';
import { EndpointProcess, ServerProcess, tempDir, type TempDir } from '@fx/testing';
import { startLeakyEndpoint } from './sandbox.helper.js';

/**
 * Issue 10 item 8: a kwarg is one shell word wherever the template may place it. Templates that put a
 * placeholder inside quotes, backticks, $(…), ${…} or a here-document are refused at registration (400
 * VALIDATION_FAILED, with a sentence); in every accepted position `$(…)` and backticks in a value never run.
 * The endpoint runs with `sandbox: none` so that a command that did run would leave its marker behind.
 */
jest.setTimeout(180_000);

const REFUSED = [
  'echo "hello {msg}"',
  "echo '{msg}'",
  'echo `{msg}`',
  'echo $(echo {msg})',
  'echo "$(echo {msg})"',
  'echo ${x:-{msg}}',
  'echo \\{msg}',
  'cat <<EOF\n{msg}\nEOF',
];
const ACCEPTED = [
  'echo {msg}',
  'echo --opt={msg}',
  'echo {msg}{other}',
  'echo a{msg}b',
  'echo "hello "{msg}',
  'echo {msg} | cat',
  '( echo {msg} )',
  "printf '%s\\n' {msg}",
];

describe.each(['embedded', 'postgres+redis'] as const)('shell template placeholders (%s)', (backend) => {
  let server: ServerProcess;
  let endpoint: EndpointProcess;
  let client: Client;
  let markers: TempDir;

  beforeAll(async () => {
    server = await ServerProcess.start(backend);
    endpoint = await startLeakyEndpoint(server, 'shells', { sandbox: 'none' });
    client = new Client({ url: server.url, token: server.adminToken });
    markers = await tempDir('fx-pwned');
  });

  afterAll(async () => {
    client?.close();
    await endpoint?.stop();
    await server?.stop();
    await markers?.remove();
  });

  it('says in fx-endpoint status that its tasks run without a sandbox (WARN)', () => {
    const status = endpoint.cli(['status', 'shells']);
    expect(status.stdout).toMatch(/sandbox:\s+WARN sandbox: none/);
  });

  it.each(REFUSED)('refuses %j at registration with 400 VALIDATION_FAILED and a sentence', async (template) => {
    const res = await fetch(`${server.url}/v1/functions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${server.adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'quoted', runtime: 'shell', source: template }),
    });
    const body = (await res.json()) as { code: string; message: string };
    expect([res.status, body.code]).toEqual([400, 'VALIDATION_FAILED']);
    expect(body.message).toMatch(/put placeholders outside quotes/);
  });

  it('never runs $(…) or backticks from a kwarg in any accepted position', async () => {
    let n = 0;
    for (const template of ACCEPTED) {
      const fn = await client.registerShellFunction(template, { name: `ok${n}` });
      for (const make of [
        (m: string) => `$(touch ${m})`,
        (m: string) => `\`touch ${m}\``,
        (m: string) => `'; touch ${m}; '`,
        (m: string) => `"; touch ${m}; "`,
      ]) {
        const marker = join(markers.path, `pwned-${n++}`);
        const msg = make(marker);
        const result = (await client.getResult(await client.run(fn, endpoint.endpointId, [], { msg, other: make(`${marker}-other`) }), {
          timeoutMs: 30_000,
        })) as { stdout: string; returncode: number };
        expect([template, result.returncode]).toEqual([template, 0]);
        expect(result.stdout).toContain(msg);
        expect([template, msg, existsSync(marker) || existsSync(`${marker}-other`)]).toEqual([template, msg, false]);
      }
    }
  });
});
