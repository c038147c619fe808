import {
  ClearCacheResponse,
  CreateTokenRequest,
  CreateTokenResponse,
  CreateUserRequest,
  EndpointInfo,
  EndpointRef,
  EndpointStatusResponse,
  FunctionInfo,
  FunctionRef,
  ListFunctionsQuery,
  ListFunctionsResponse,
  ListResponse,
  ListTokensResponse,
  ListUsersResponse,
  RegisterEndpointRequest,
  RegisterEndpointResponse,
  RegisterFunctionRequest,
  TokenInfo,
  UpdateEndpointRequest,
  UsageQuery,
  UsageResponse,
  UserInfo,
  WhoAmIResponse,
} from '@fx/protocol';
import type {
  ListAccountsOptions,
  ListFunctionsOptions,
  RegisterEndpointOptions,
  RegisterFunctionOptions,
  RegisterPythonFunctionOptions,
  RegisterShellFunctionOptions,
  UpdateEndpointOptions,
  UsageOptions,
} from './client.options.js';
import { ClientCore } from './client.core.js';
import { ListTruncatedError } from './errors.js';
import { jsRegistration, pythonRegistration, templateRegistration } from './function-source.js';
import { checkInput, queryString, type Schema } from './validate.js';

/** A page of GET /v1/functions; a server older than its paging answers one page with no nextCursor. */
const FunctionPage = ListFunctionsResponse.partial({ nextCursor: true });
/** How many functions listFunctions reads when the caller passes no `limit`: past it, ListTruncatedError. */
export const LIST_FUNCTIONS_MAX = 1000;
/** listFunctions reads no page after the one that brings the sources it read to this many characters (64 Mi). */
export const LIST_FUNCTIONS_SOURCE_BYTES = 64 * 1024 * 1024;
const EndpointList = ListResponse(EndpointInfo);
/** How many users, or tokens of one user, listUsers and listTokens read without a `limit`: past it, ListTruncatedError. */
export const LIST_ACCOUNTS_MAX = 1000;
/** A page of GET /v1/users or a user's tokens; a server older than their paging answers the whole list with no nextCursor. */
const UserPage = ListUsersResponse.partial({ nextCursor: true });
const TokenPage = ListTokensResponse.partial({ nextCursor: true });

/**
 * The registry calls of Client: functions, endpoints, users and tokens, each one request and its
 * answer. Client (client.ts) adds tasks, results and objects on top.
 */
export abstract class ClientRegistry extends ClientCore {
  // ---- functions -------------------------------------------------------------------------------

  /**
   * Registers a JS function; its `toString()` is the source, so it must not use variables from its
   * closure. Returns the function id: the existing one when this name's newest version is the same
   * registration, else the id of a new version of the name (the name alone then means it).
   */
  async registerFunction(fn: (...args: never[]) => unknown, options: RegisterFunctionOptions = {}): Promise<string> {
    return (await this.createFunction(jsRegistration(fn, options))).id;
  }

  /**
   * Registers a shell command template (`{name}` placeholders are filled from kwargs on the endpoint).
   * Results are `{ cmd, stdout, stderr, returncode }`; see `failOnNonZeroExit`. Returns the function id.
   */
  async registerShellFunction(template: string, options: RegisterShellFunctionOptions = {}): Promise<string> {
    return (await this.createFunction(templateRegistration('shell', template, options))).id;
  }

  /**
   * Registers Python source: a module defining `options.entrypoint`, which each task calls with its args
   * and kwargs on a python worker of the endpoint. Results are JSON; a raised exception fails the task
   * with its type, message and traceback, and what the task printed comes back as the outcome's `output`.
   */
  async registerPythonFunction(source: string, options: RegisterPythonFunctionOptions): Promise<string> {
    return (await this.createFunction(pythonRegistration(source, options))).id;
  }

  /**
   * Registers an MPI function: a shell command template run under the endpoint's MPI launcher (`srun`,
   * or `mpiexec` by endpoint config) inside an HPC block, with `nodes × ranksPerNode` ranks taken from
   * each task's `resources` (default 1 × 1). Results are `{ cmd, stdout, stderr, returncode }`.
   */
  async registerMpiFunction(template: string, options: RegisterFunctionOptions = {}): Promise<string> {
    return (await this.createFunction(templateRegistration('mpi', template, options))).id;
  }

  /** Registers a function from a full request; returns what the server stored. */
  async createFunction(request: RegisterFunctionRequest): Promise<FunctionInfo> {
    const body = checkInput(RegisterFunctionRequest, request, 'function registration');
    return this.request({ method: 'POST', path: '/v1/functions', body, response: FunctionInfo });
  }

  /**
   * A function by id or name: `name` (your own, newest version), `name@version`, or `owner/name[@version]`
   * (another user's public function).
   */
  async getFunction(functionId: string): Promise<FunctionInfo> {
    return this.request({ method: 'GET', path: `/v1/functions/${this.nameRef(functionId, FunctionRef, 'functionId')}`, response: FunctionInfo });
  }

  /**
   * Your functions and the public ones (admins: all), oldest first; `source: false` for their names
   * only. With `limit`, at most that many. Never a silent part: without `limit` past 1,000 functions,
   * and past 64 MiB of sources with more to read, it throws ListTruncatedError (ListFunctionsOptions).
   */
  listFunctions(options: ListFunctionsOptions = {}): Promise<FunctionInfo[]> {
    return this.functionPages({}, options);
  }

  /** The live versions of a function name (`name`, or `owner/name`), newest first, bounded as listFunctions; empty when there is none. */
  listFunctionVersions(name: string, options: ListFunctionsOptions = {}): Promise<FunctionInfo[]> {
    const query = checkInput(ListFunctionsQuery, { name }, 'function name');
    return this.functionPages({ name: query.name }, options);
  }

  /**
   * Pages of GET /v1/functions (each bounded by the server: FUNCTION_PAGE_SOURCE_BYTES) until `limit`
   * functions, or the page that brings the sources read past LIST_FUNCTIONS_SOURCE_BYTES: other users
   * choose how many public functions there are, and how large. Stopping short of the list's end
   * anywhere but at the caller's own `limit` throws, so that no caller mistakes a part for the whole.
   */
  private async functionPages(query: { name?: string }, { limit, source = true }: ListFunctionsOptions): Promise<FunctionInfo[]> {
    const bound = limit ?? LIST_FUNCTIONS_MAX;
    const items: FunctionInfo[] = [];
    let cursor: string | null = null;
    let sourceChars = 0;
    let more: boolean;
    do {
      const page: Partial<ListFunctionsResponse> & Pick<ListFunctionsResponse, 'items'> = await this.request({
        method: 'GET',
        path: `/v1/functions?${queryString({ ...query, limit: Math.max(1, Math.min(1000, bound - items.length)), ...(source ? {} : { source: 'false' }), cursor: cursor ?? undefined })}`,
        response: FunctionPage,
      });
      const kept = page.items.slice(0, bound - items.length);
      items.push(...kept);
      for (const f of kept) sourceChars += f.source.length;
      cursor = page.nextCursor ?? null;
      // a server that answers more than it was asked for has more than was kept
      more = cursor !== null || kept.length < page.items.length;
    } while (cursor && items.length < bound && sourceChars < LIST_FUNCTIONS_SOURCE_BYTES);
    if (!more || (limit !== undefined && items.length >= limit)) return items;
    const what = query.name === undefined ? 'functions' : `versions of ${query.name}`;
    if (items.length >= bound) {
      throw new ListTruncatedError(
        `there are more than ${bound} ${what} (the most listed without a limit): pass \`limit\` to read more, or a smaller one to take only the oldest (\`source: false\` reads names only); the first ${items.length} are in this error's \`items\``,
        items,
        'count',
      );
    }
    throw new ListTruncatedError(
      `the first ${items.length} ${what} have ${sourceChars} characters of source, past the ${LIST_FUNCTIONS_SOURCE_BYTES}-character bound, and there are more: pass \`source: false\` to list names only (getFunction reads one source), or a \`limit\` of at most ${items.length}; the ones read are in this error's \`items\``,
      items,
      'sourceBytes',
    );
  }

  /** Deletes a function by id, or by name: a bare name deletes its newest version, after which the name means the one before. */
  async deleteFunction(functionId: string): Promise<void> {
    await this.request({ method: 'DELETE', path: `/v1/functions/${this.nameRef(functionId, FunctionRef, 'functionId')}` });
  }

  /** Drops a function's memoized results (yours, and the shared ones of a function you own); returns how many. */
  async clearCache(functionId: string): Promise<number> {
    const path = `/v1/functions/${this.nameRef(functionId, FunctionRef, 'functionId')}/cache`;
    return (await this.request({ method: 'DELETE', path, response: ClearCacheResponse })).cleared;
  }

  // ---- endpoints -------------------------------------------------------------------------------

  /** Registers an endpoint; the response carries its token, shown only this once. */
  async registerEndpoint(options: RegisterEndpointOptions): Promise<RegisterEndpointResponse> {
    const body = checkInput(RegisterEndpointRequest, options, 'endpoint registration');
    return this.request({ method: 'POST', path: '/v1/endpoints', body, response: RegisterEndpointResponse });
  }

  async listEndpoints(): Promise<EndpointInfo[]> {
    return (await this.request({ method: 'GET', path: '/v1/endpoints', response: EndpointList })).items;
  }

  /** An endpoint by id or name: `name` (yours; names are unique per owner) or `owner/name` (admins). */
  async getEndpoint(endpointId: string): Promise<EndpointInfo> {
    return this.request({ method: 'GET', path: `/v1/endpoints/${this.nameRef(endpointId, EndpointRef, 'endpointId')}`, response: EndpointInfo });
  }

  async getEndpointStatus(endpointId: string): Promise<EndpointStatusResponse> {
    return this.request({
      method: 'GET',
      path: `/v1/endpoints/${this.nameRef(endpointId, EndpointRef, 'endpointId')}/status`,
      response: EndpointStatusResponse,
    });
  }

  /** Changes what an endpoint may run (its connected agent is reconnected to pick the new list up) or its description. */
  async updateEndpoint(endpointId: string, options: UpdateEndpointOptions): Promise<EndpointInfo> {
    const body = checkInput(UpdateEndpointRequest, options, 'endpoint update');
    return this.request({
      method: 'PATCH',
      path: `/v1/endpoints/${this.nameRef(endpointId, EndpointRef, 'endpointId')}`,
      body,
      // setting the same list again changes nothing
      idempotent: true,
      response: EndpointInfo,
    });
  }

  async deleteEndpoint(endpointId: string): Promise<void> {
    await this.request({ method: 'DELETE', path: `/v1/endpoints/${this.nameRef(endpointId, EndpointRef, 'endpointId')}` });
  }

  // ---- identity and administration -------------------------------------------------------------

  async whoami(): Promise<WhoAmIResponse> {
    return this.request({ method: 'GET', path: '/v1/whoami', response: WhoAmIResponse });
  }

  /**
   * Core-, GPU- and CPU-hours of the attempts that ended in a window, per user, endpoint or function
   * (`rows`, the most core-hours first, the rest summed in `others`) and per time bucket (`series`),
   * with the busy and idle node-hours of pilot blocks (`blocks`). Yours only, unless you are an admin.
   */
  async usage(options: UsageOptions = {}): Promise<UsageResponse> {
    const iso = (t: string | Date | undefined) => (t instanceof Date ? t.toISOString() : t);
    const query = checkInput(UsageQuery, { ...options, since: iso(options.since), until: iso(options.until) }, 'usage query');
    return this.request({ method: 'GET', path: `/v1/usage?${queryString(query)}`, response: UsageResponse });
  }

  /** Admin only. */
  async createUser(request: CreateUserRequest): Promise<UserInfo> {
    const body = checkInput(CreateUserRequest, request, 'user');
    return this.request({ method: 'POST', path: '/v1/users', body, response: UserInfo });
  }

  /** Admin only. Every user, oldest first, bounded as ListAccountsOptions says: never a silent part. */
  listUsers(options: ListAccountsOptions = {}): Promise<UserInfo[]> {
    return this.accountPages('/v1/users', UserPage, 'users', options);
  }

  /** Admin only. The response carries the token, shown only this once. */
  async createToken(userId: string, request: CreateTokenRequest = {}): Promise<CreateTokenResponse> {
    const body = checkInput(CreateTokenRequest, request, 'token request');
    return this.request({ method: 'POST', path: `/v1/users/${this.id(userId, 'userId')}/tokens`, body, response: CreateTokenResponse });
  }

  /** Admin only. A user's tokens (their metadata), oldest first, bounded as ListAccountsOptions says. */
  listTokens(userId: string, options: ListAccountsOptions = {}): Promise<TokenInfo[]> {
    return this.accountPages(`/v1/users/${this.id(userId, 'userId')}/tokens`, TokenPage, 'tokens of this user', options);
  }

  /** Admin only. */
  async revokeToken(tokenId: string): Promise<void> {
    await this.request({ method: 'DELETE', path: `/v1/tokens/${this.id(tokenId, 'tokenId')}` });
  }

  /**
   * Pages of an admin list until `limit` items, or LIST_ACCOUNTS_MAX without one; stopping there while
   * the server has more throws, so that no caller takes the head of the list for all of it.
   */
  private async accountPages<T>(
    path: string,
    response: Schema<{ items: T[]; nextCursor?: string | null }>,
    what: string,
    { limit }: ListAccountsOptions,
  ): Promise<T[]> {
    const bound = limit ?? LIST_ACCOUNTS_MAX;
    const items: T[] = [];
    let cursor: string | undefined;
    let more = false;
    while (items.length < bound) {
      const page = await this.request({ method: 'GET', path: `${path}?${queryString({ limit: Math.min(1000, bound - items.length), cursor })}`, response });
      const room = bound - items.length;
      items.push(...page.items.slice(0, room));
      cursor = page.nextCursor ?? undefined;
      // an older server answers its whole list at once: what did not fit is more
      more = cursor !== undefined || page.items.length > room;
      if (!cursor) break;
    }
    if (!more || limit !== undefined) return items;
    throw new ListTruncatedError(
      `there are more than ${bound} ${what} (the most listed without a limit): pass \`limit\` to read more; the first ${items.length} are in this error's \`items\``,
      items,
      'count',
    );
  }
}
