import {
  BatchTaskItem,
  DEFAULT_LIMITS,
  FunctionRef,
  MAX_TASK_PRIORITY,
  MIN_TASK_PRIORITY,
  Speculation,
  TaskPriority,
  type RetryPolicyInput,
  type SpeculationOptions,
  type TaskResources,
} from '@fx/protocol';
import { PayloadTooLargeError, ValidationError } from './errors.js';
import { assertFaithfulJson } from './json-faithful.js';
import type { BatchItem, RunOptions } from './client.options.js';
import { checkInput } from './validate.js';
import { encodeArgs } from './task-ref.js';

export interface BatchEncodingOptions {
  /** Given to the items that carry no `resources` of their own. */
  resources?: TaskResources | undefined;
  /** The batch's priority: the server gives it to the items that carry no `priority` of their own. */
  priority?: number | undefined;
  /** Given to the items that carry no `retry` of their own. */
  retry?: RetryPolicyInput | undefined;
  /** Given to the items that carry no `cache` of their own. */
  cache?: boolean | undefined;
  /** Largest request body; items are split across requests to stay under it. */
  maxRequestBytes: number;
  /** The task group every request joins. */
  groupId?: string | undefined;
  /** Copies of stragglers, asked of the group by every request. */
  speculation?: SpeculationOptions | undefined;
}

/** One request of a batch: its JSON body and how many tasks it carries. */
export interface EncodedBatchRequest {
  body: string;
  count: number;
}

/**
 * The requests (`POST /v1/tasks/batch`) that carry a batch, in item order: each holds at most
 * DEFAULT_LIMITS.maxBatchTasks items and `maxRequestBytes` of JSON. Every item is checked before
 * anything is returned, so a bad item fails the batch before a request is sent.
 */
export function encodeBatch(endpoint: string, items: readonly BatchItem[], options: BatchEncodingOptions): EncodedBatchRequest[] {
  const { resources, priority, retry, cache, maxRequestBytes, groupId, speculation } = options;
  if (resources) items = items.map((item) => (item.resources ? item : { ...item, resources }));
  if (retry) items = items.map((item) => (item.retry ? item : { ...item, retry }));
  if (cache !== undefined) items = items.map((item) => (item.cache === undefined ? { ...item, cache } : item));

  const isCheckedId = refMemo();
  const batchPriority = priority === undefined ? '' : `"priority":${checkInput(TaskPriority, priority, 'priority')},`;
  const batchSpeculation = speculation === undefined ? '' : `"speculation":${JSON.stringify(checkInput(Speculation, speculation, 'speculation'))},`;
  const head = `{"endpointId":${JSON.stringify(endpoint)},${groupId ? `"groupId":${JSON.stringify(groupId)},` : ''}${batchPriority}${batchSpeculation}"tasks":[`;
  const tail = ']}';
  // with room for the `"groupId":…,` that sendBatch adds to the requests after the first
  const frame = head.length + tail.length + (groupId ? 0 : GROUP_FIELD_BYTES);
  const chunks: string[][] = [];
  let current: string[] = [];
  let bytes = frame;
  let itemRefs = false;
  const onIndex = (index: number, i: number) => {
    if (index >= i) throw new ValidationError('VALIDATION_FAILED', `items[${i}] refers to item ${index}; an item may refer only to items before it`);
    itemRefs = true;
  };
  items.forEach((item, i) => {
    if (item?.args !== undefined || item?.kwargs !== undefined) {
      // task handles and refs become references; the item is copied only when something changed
      const args = item.args === undefined ? undefined : encodeArgs(item.args, (n) => onIndex(n, i));
      const kwargs = item.kwargs === undefined ? undefined : encodeArgs(item.kwargs, (n) => onIndex(n, i));
      if (args !== item.args || kwargs !== item.kwargs) item = { ...item, ...(args ? { args } : {}), ...(kwargs ? { kwargs } : {}) };
    }
    if (item?.args !== undefined) assertFaithfulJson(item.args, `items[${i}].args`);
    if (item?.kwargs !== undefined) assertFaithfulJson(item.kwargs, `items[${i}].kwargs`);
    const encoded = JSON.stringify(isPlainBatchItem(item, isCheckedId) ? item : checkInput(BatchTaskItem, item, `batch item ${i}`));
    const size = Buffer.byteLength(encoded) + 1;
    if (frame + size > maxRequestBytes) {
      throw new PayloadTooLargeError(
        'PAYLOAD_TOO_LARGE',
        `batch item ${i} alone is ${size} bytes of JSON, more than the ${maxRequestBytes} a request may carry`,
      );
    }
    if (current.length === DEFAULT_LIMITS.maxBatchTasks || bytes + size > maxRequestBytes) {
      chunks.push(current);
      current = [];
      bytes = frame;
    }
    current.push(encoded);
    bytes += size;
  });
  chunks.push(current);
  if (itemRefs && chunks.length > 1) {
    throw new ValidationError(
      'VALIDATION_FAILED',
      `items refer to other items (itemRef), so the batch must go in one request, but it needs ${chunks.length} (at most ${DEFAULT_LIMITS.maxBatchTasks} tasks and ${maxRequestBytes} bytes of JSON per request)`,
    );
  }
  return chunks.map((chunk) => ({ body: `${head}${chunk.join(',')}${tail}`, count: chunk.length }));
}

/** `"groupId":"<uuid>",` */
const GROUP_FIELD_BYTES = 48;

const BATCH_ITEM_KEYS = new Set(['functionId', 'endpointId', 'args', 'kwargs', 'priority', 'cache']);

/** What `run` and `runBatch` send of their options, as the request's fields (a priority checked here, with a sentence). */
export function taskOptions(options: Pick<RunOptions, 'resources' | 'priority' | 'retry' | 'cache'>): {
  resources?: TaskResources;
  priority?: number;
  retry?: RetryPolicyInput;
  cache?: boolean;
} {
  return {
    ...(options.resources ? { resources: options.resources } : {}),
    ...(options.cache === undefined ? {} : { cache: options.cache }),
    ...(options.retry ? { retry: options.retry } : {}),
    ...(options.priority !== undefined ? { priority: checkInput(TaskPriority, options.priority, 'priority') } : {}),
  };
}

/** A function-ref check that runs the schema once per distinct ref: a batch usually names one or two. */
function refMemo(): (value: unknown) => boolean {
  const ok = new Set<string>();
  return (value) => {
    if (typeof value !== 'string') return false;
    if (ok.has(value)) return true;
    if (!FunctionRef.safeParse(value).success) return false;
    ok.add(value);
    return true;
  };
}

/**
 * The common shape of a batch item, checked by hand: running the zod schema on each of 10,000 items
 * costs more than the request. Anything unusual goes through the schema, which also words the error.
 */
function isPlainBatchItem(item: unknown, isId: (value: unknown) => boolean): item is BatchItem {
  if (typeof item !== 'object' || item === null || Array.isArray(item)) return false;
  for (const key of Object.keys(item)) if (!BATCH_ITEM_KEYS.has(key)) return false;
  const { functionId, endpointId, args, kwargs, priority, cache } = item as Record<string, unknown>;
  return (
    isId(functionId) &&
    (cache === undefined || typeof cache === 'boolean') &&
    (priority === undefined || (Number.isInteger(priority) && (priority as number) >= MIN_TASK_PRIORITY && (priority as number) <= MAX_TASK_PRIORITY)) &&
    (endpointId === undefined || (isId(endpointId) && !(endpointId as string).includes('@'))) &&
    (args === undefined || (Array.isArray(args) && args.length <= 10_000)) &&
    (kwargs === undefined || (typeof kwargs === 'object' && kwargs !== null && !Array.isArray(kwargs)))
  );
}
