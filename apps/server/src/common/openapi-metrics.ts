import { z } from 'zod';
import type { OperationDoc } from './openapi-operations.js';

/** /openapi.json's words on the Prometheus endpoint (see OPERATIONS; the metrics are listed in docs/observability.md). */
export const METRICS_OPERATIONS: Record<string, OperationDoc> = {
  'GET /metrics': {
    summary: 'Prometheus metrics',
    description:
      'Task, queue, agent, channel and store figures in the Prometheus text format (docs/observability.md lists them). Needs no user token; ' +
      'FX_METRICS decides who may read it: `loopback` (the default) answers 127.0.0.1 and ::1 without a token and any other address with ' +
      '`Authorization: Bearer <FX_METRICS_TOKEN>` (401 without a token, 403 with another); `open` answers anyone; `off` answers 404.',
    response: z.string(),
    public: true,
    text: true,
    errors: ['UNAUTHENTICATED', 'FORBIDDEN', 'NOT_FOUND'],
  },
};
