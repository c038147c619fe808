import { ErrorBody, RegisterEndpointResponse, type RegisterEndpointRequest } from '@fx/protocol';
import { CliError } from '@fx/cli-kit';

/** A refusal from the server, carrying its `{ code, message }` body. */
export class ServerRequestError extends CliError {
  constructor(
    readonly status: number,
    readonly code: string | undefined,
    message: string,
  ) {
    super(message, 1);
    this.name = 'ServerRequestError';
  }
}

function apiUrl(base: string, path: string): string {
  return `${base.replace(/\/+$/, '')}${path}`;
}

async function request(method: string, url: string, token: string, body?: unknown): Promise<unknown> {
  let response: Response;
  try {
    response = await fetch(url, {
      method,
      headers: { Authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }), Accept: 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    });
  } catch (cause) {
    const reason = cause instanceof Error ? ((cause.cause as Error | undefined)?.message ?? cause.message) : String(cause);
    throw new CliError(`could not reach the server at ${url}: ${reason}`, 1, { cause });
  }
  const text = await response.text();
  let json: unknown;
  try {
    json = text === '' ? undefined : JSON.parse(text);
  } catch {
    json = undefined;
  }
  if (!response.ok) {
    const error = ErrorBody.safeParse(json);
    if (error.success) {
      throw new ServerRequestError(response.status, error.data.code, `the server refused: ${error.data.message} (${error.data.code}, HTTP ${response.status})`);
    }
    throw new ServerRequestError(response.status, undefined, `the server answered HTTP ${response.status}${text ? `: ${text.slice(0, 300)}` : ''}`);
  }
  return json;
}

export async function registerEndpoint(baseUrl: string, userToken: string, body: RegisterEndpointRequest): Promise<RegisterEndpointResponse> {
  const json = await request('POST', apiUrl(baseUrl, '/v1/endpoints'), userToken, body);
  const parsed = RegisterEndpointResponse.safeParse(json);
  if (!parsed.success) throw new CliError(`the server's answer to the registration is not what this fx-endpoint expects (is the server the same version?)`);
  return parsed.data;
}

export async function deleteEndpoint(baseUrl: string, userToken: string, endpointId: string): Promise<void> {
  await request('DELETE', apiUrl(baseUrl, `/v1/endpoints/${encodeURIComponent(endpointId)}`), userToken);
}
