import { MAX_USAGE_KEYS, MAX_USAGE_WINDOW_DAYS, UsageResponse } from '@fx/protocol';
import { MAX_HOURLY_USAGE_DAYS } from '../modules/usage/usage-window.js';
import type { OperationDoc } from './openapi-operations.js';

/** /openapi.json's words on accounting (see OPERATIONS). */
export const USAGE_OPERATIONS: Record<string, OperationDoc> = {
  'GET /v1/usage': {
    summary: 'Usage: core-, GPU- and CPU-hours, and the idle share of pilot blocks',
    description:
      `What attempts held and used, summed per \`by\` (user, endpoint or function) over the window [since, until): ` +
      `\`until\` defaults to now, \`since\` to 7 days before it; at most ${MAX_USAGE_WINDOW_DAYS} days (${MAX_HOURLY_USAGE_DAYS} with bucket=hour). ` +
      `Attempts count in the bucket they ended in (UTC). Rows are the ${MAX_USAGE_KEYS} keys with the most core-hours, the rest summed in \`others\`; ` +
      '`series` gives core- and GPU-hours per bucket for those keys. `blocks` gives, per endpoint, the node-hours of its pilot blocks inside ' +
      'the window, busy and idle. You see your own tasks and your own endpoints; an admin sees everyone’s.',
    response: UsageResponse,
  },
};
