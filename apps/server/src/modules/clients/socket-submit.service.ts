import { Inject, Injectable } from '@nestjs/common';
import { SubmitBatchRequest, SubmitTaskRequest, type ErrorBody, type SubmitPayload, type SubmittedPayload } from '@fx/protocol';
import { APP_CONFIG, type AppConfig } from '../../config/env.js';
import { FxException } from '../../common/fx.exception.js';
import { ZodPipe } from '../../common/zod.pipe.js';
import { errorResponse } from '../../common/fx-exception.filter.js';
import { AuthService } from '../auth/auth.service.js';
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
   * subscribed on this socket before the answer goes out (a result recorded in between is read back
   * by the subscription's catch-up read), and outcomes already final follow it.
   */
  async submit(socket: ClientSocket, bytes: number, payload: SubmitPayload, reply: (answer: SubmittedPayload) => void): Promise<void> {
    const principal = await this.auth.verify(socket.token);
    if (principal.kind !== 'user' || principal.tokenId !== socket.principal.tokenId) {
      throw new FxException('FORBIDDEN', 'endpoint tokens may only connect to the endpoint channel');
    }
    if (bytes > this.config.FX_MAX_REQUEST_BYTES) {
      throw new FxException('PAYLOAD_TOO_LARGE', `request body is larger than the limit of ${this.config.FX_MAX_REQUEST_BYTES} bytes`);
    }
    this.limits.consume(principal.tokenId);
    const answer: SubmittedPayload =
      payload.task !== undefined
        ? { task: await this.tasks.submit(principal, taskPipe.transform(payload.task)) }
        : { batch: await this.tasks.submitBatch(principal, batchPipe.transform(payload.batch)) };
    const ids = 'task' in answer ? [answer.task.taskId] : answer.batch.taskIds;
    const watching =
      payload.watch && socket.taskIds.size + ids.length <= MAX_SUBSCRIPTIONS_PER_SOCKET
        ? this.subscriptions.subscribe(socket, ids) // registers before its first await
        : undefined;
    reply(answer);
    if (watching) this.subscriptions.send(socket, (await watching).ready);
  }
}

/** The error body REST's exception filter answers for this failure (FxException, a backing service away, or a bug). */
export function errorBodyOf(e: unknown): ErrorBody {
  return errorResponse(e)[1];
}
