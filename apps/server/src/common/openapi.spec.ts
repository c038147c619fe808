import { Validator } from '@seriousme/openapi-schema-validator';
import { startTestServer, type TestServer } from '../testing/test-server.js';
import { GroupTasksQuery, SubmitTaskRequest } from '@fx/protocol';
import { OPERATIONS } from './openapi-operations.js';
import { jsonSchema } from './openapi.js';

/**
 * /openapi.json as served: valid for the OpenAPI version it declares (checked by a validator from npm,
 * not by us), and every operation documented — summary, description, a success body, and a
 * `{ code, message, details? }` body for each error status it may answer with.
 */
interface Operation {
  summary?: string;
  description?: string;
  responses: Record<
    string,
    {
      description: string;
      content?: {
        'application/json'?: { schema: Record<string, any> };
        'application/octet-stream'?: { schema: Record<string, any> };
        'text/plain'?: { schema: Record<string, any> };
      };
    }
  >;
}
let server: TestServer;
let doc: { openapi: string; paths: Record<string, Record<string, Operation>> };

beforeAll(async () => {
  server = await startTestServer('embedded');
  doc = (await (await fetch(`${server.url}/openapi.json`)).json()) as typeof doc;
}, 60_000);

afterAll(async () => {
  await server?.stop();
});

const operations = () =>
  Object.entries(doc.paths).flatMap(([path, ops]) => Object.entries(ops).map(([method, op]) => ({ key: `${method.toUpperCase()} ${path}`, op })));

describe('/openapi.json', () => {
  it('is valid for the OpenAPI version it declares', async () => {
    expect(doc.openapi).toBe('3.1.0');
    const validator = new Validator();
    const result = await validator.validate(structuredClone(doc) as never);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.1');
  });

  it('documents every operation, and documents no operation that does not exist', () => {
    const served = operations().map((o) => o.key);
    expect(served.filter((k) => !OPERATIONS[k])).toEqual([]);
    expect(Object.keys(OPERATIONS).filter((k) => !served.includes(k))).toEqual([]);
    expect(served).toContain('POST /v1/tasks/results');
  });

  it('documents a body and a query by the protocol schemas that validate them, under the tag and auth of the controller', () => {
    type Documented = {
      tags: string[];
      security: unknown[];
      requestBody?: { content: Record<string, { schema: unknown }> };
      parameters: Array<{ name: string; in: string }>;
    };
    const submit = doc.paths['/v1/tasks']!.post as unknown as Documented;
    expect(submit.requestBody?.content['application/json']?.schema).toEqual(JSON.parse(JSON.stringify(jsonSchema(SubmitTaskRequest))));
    expect([submit.tags, submit.security]).toEqual([['tasks'], [{ bearer: [] }]]);
    const groupTasks = doc.paths['/v1/groups/{id}/tasks']!.get as unknown as Documented;
    expect(groupTasks.parameters.map((p) => `${p.in} ${p.name}`)).toEqual(['path id', ...Object.keys(GroupTasksQuery.shape).map((k) => `query ${k}`)]);
  });

  it('gives every operation a summary, a description, a success body and an error body per error status', () => {
    const problems: string[] = [];
    for (const { key, op } of operations()) {
      if (!op.summary) problems.push(`${key}: no summary`);
      if (!op.description) problems.push(`${key}: no description`);
      const codes = Object.keys(op.responses);
      const success = codes.filter((c) => c.startsWith('2'));
      if (success.length !== 1) problems.push(`${key}: ${success.length} success responses`);
      else if (success[0] !== '204') {
        const content = op.responses[success[0]!]!.content;
        if (!(content?.['application/json'] ?? content?.['application/octet-stream'] ?? content?.['text/plain'])?.schema)
          problems.push(`${key}: no success schema`);
      }
      const errors = codes.filter((c) => /^[45]/.test(c));
      if (!errors.includes('500')) problems.push(`${key}: no 500`);
      for (const status of errors) {
        const schema = op.responses[status]!.content?.['application/json']?.schema;
        if (!schema || !schema.required?.includes('code') || !schema.required?.includes('message') || !schema.properties?.code?.enum?.length) {
          problems.push(`${key} ${status}: no { code, message } body`);
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it('lists the codes each error status carries', () => {
    const submit = doc.paths['/v1/tasks']!['post']!;
    expect(submit.responses['409']!.content!['application/json']!.schema.properties.code.enum).toEqual(['ENDPOINT_LOCKED', 'ISOLATION_REQUIRED']);
    expect(submit.responses['429']!.content!['application/json']!.schema.properties.code.enum).toEqual(
      expect.arrayContaining(['RATE_LIMITED', 'QUOTA_EXCEEDED']),
    );
    const results = doc.paths['/v1/tasks/results']!['post']!;
    expect(results.responses['200']!.content!['application/json']!.schema.properties).toHaveProperty('notFound');
    expect(doc.paths['/v1/tasks/{id}']!['get']!.responses['404']).toBeDefined();
  });
});
