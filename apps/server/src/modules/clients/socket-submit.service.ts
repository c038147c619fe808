import { Inject, Injectable } from '@nestjs/common';
import { SubmitBatchRequest, SubmitTaskRequest, type ErrorBody, undeliveredIds, type SubmitPayload, type SubmittedPayload } from '@fx/protocol';
import { APP_CONFIG, type AppConfig } from '../../config/env.js';
import { FxException } from '../../common/fx.exception.js';
import { ZodPipe } from '../../common/zod.pipe.js';
import { errorResponse } from '../../common/fx-exception.filter.js';
import { AuthService } from '../auth/auth.service.js';
import type { Principal } from '../auth/principal.js';
import { RateLimitService } from '../ratelimit/rate-limit.service.js';
import { TasksService } from '../tasks/tasks.service.js';
import { MAX_SUBSCRIPTIONS_PER_SOCKET, SubscriptionsService } from './subscriptions.service.js';
import type { ClientSocket } from './client-socket.js';

const taskPipe = new ZodPipe(SubmitTaskRequest);
const batchPipe = new ZodPipe(SubmitBatchRequest);

/**
 * Submissions over the client socket: `submit` frames answered exactly as POST /v1/tasks and
 * /v1/tasks/batch answer the same body with the same token, in the same order of checks. The token is
 * verified again for each frame (bodyGate and AuthGuard verify it for each request: a token revoked
 * while its socket is open submits nothing more, whatever the cluster event's delay); the frame's bytes
 * are held to FX_MAX_REQUEST_BYTES; one request's worth is taken from the token's rate-limit bucket
 * (RateLimitInterceptor's); the body is validated by the route's own pipe; and TasksService does the
 * rest (functions and endpoints the user may use, quotas, batch size), as it does for REST.
 */
@Injectable()
export class SocketSubmitService {
  constructor(
    @Inject(APP_CONFIG) private readonly config: Pick<AppConfig, 'FX_MAX_REQUEST_BYTES'>,
    private readonly auth: AuthService,
    private readonly limits: RateLimitService,
    private readonly tasks: TasksService,
    private readonly subscriptions: SubscriptionsService,
  ) {}

  /**
   * Submits one frame's task or batch and hands `reply` the answer. With `watch`, the new ids are
   * subscribed on this socket before the answer goes out (from their commit, or with a catch-up read
   * for a result recorded in between), and outcomes already final follow it.
   */
  async submit(socket: ClientSocket, bytes: number, payload: SubmitPayload, reply: (answer: SubmittedPayload) => void): Promise<void> {
    // The token's check runs alongside the submission's own reads instead of before them (one round trip
    // less): TasksService passes it before its insert, so nothing is stored for a token that fails it, and
    // its refusal is the answer whatever else failed, as when it ran first.
    const verified = this.verify(socket);
    verified.catch(() => undefined); // awaited below or by TasksService; never unhandled
    try {
      const principal = socket.principal;
      const gate = verified.then((fresh) => {
        if (fresh.userId !== principal.userId || fresh.admin !== principal.admin) throw new PrincipalChanged(fresh);
      });
      gate.catch(() => undefined); // a body refused before the insert leaves it unawaited: its refusal is `verified`'s
      await this.submitAs(principal, gate, socket, bytes, payload, reply);
    } catch (e) {
      await verified;
      // the user's rights changed since the socket opened: nothing was stored; checked again as they are now
      if (e instanceof PrincipalChanged) return this.submitAs(e.principal, undefined, socket, bytes, payload, reply);
      throw e;
    }
  }

  private async verify(socket: ClientSocket): Promise<Principal> {
    const principal = await this.auth.verify(socket.token);
    if (principal.kind !== 'user' || principal.tokenId !== socket.principal.tokenId) {
      throw new FxException('FORBIDDEN', 'endpoint tokens may only connect to the endpoint channel');
    }
    return principal;
  }

  private async submitAs(
    principal: Principal,
    gate: Promise<unknown> | undefined,
    socket: ClientSocket,
    bytes: number,
    payload: SubmitPayload,
    reply: (answer: SubmittedPayload) => void,
  ): Promise<void> {
    if (bytes > this.config.FX_MAX_REQUEST_BYTES) {
      throw new FxException('PAYLOAD_TOO_LARGE', `request body is larger than the limit of ${this.config.FX_MAX_REQUEST_BYTES} bytes`);
    }
    this.limits.consume(principal.tokenId);
    // Tasks that can neither have ended nor end before the answer goes out (no memoized ones, no
    // dependents) are watched from their commit, before they are queued: no outcome can precede the
    // registration, so no catch-up read. The others are read back after the answer, as a subscribe is.
    let watchedEarly = false;
    const accepted = (ids: string[], mayEndFirst: boolean) => {
      if (!payload.watch || mayEndFirst || socket.taskIds.size + ids.length > MAX_SUBSCRIPTIONS_PER_SOCKET) return;
      this.subscriptions.watchNew(socket, ids);
      watchedEarly = true;
    };
    const answer: SubmittedPayload =
      payload.task !== undefined
        ? { task: await this.tasks.submit(principal, taskPipe.transform(payload.task), { gate, accepted }) }
        : { batch: await this.tasks.submitBatch(principal, batchPipe.transform(payload.batch), { gate, accepted }) };
    // the outcomes the answer carries are not relayed again to a client that takes them from it
    const ids = 'task' in answer ? [answer.task.taskId] : payload.takesCached ? undeliveredIds(answer.batch) : answer.batch.taskIds;
    const watching =
      payload.watch && !watchedEarly && ids.length > 0 && socket.taskIds.size + ids.length <= MAX_SUBSCRIPTIONS_PER_SOCKET
        ? this.subscriptions.subscribe(socket, ids) // registers before its first await
        : undefined;
    reply(answer);
    if (watching) await this.subscriptions.replay(socket, (await watching).ready);
  }
}

/** The gate's refusal when the token's user is no longer what the socket's principal says (an admin no more). */
class PrincipalChanged extends Error {
  constructor(readonly principal: Principal) {
    super('the principal changed');
  }
}

/** The error body REST's exception filter answers for this failure (FxException, a backing service away, or a bug). */
export function errorBodyOf(e: unknown): ErrorBody {
  return errorResponse(e)[1];
}
