import { z } from 'zod';
import { EndpointRef, FunctionRef, pageQuery, pageResponse, Uuid } from './common.js';

/**
 * Data by reference (DESIGN invariant 10). An object is immutable bytes with an owner, an optional
 * path-like name, and an optional expiry. Its content is addressed by sha256: the same bytes stored
 * twice are stored once, and any cache (the agent's, the SDK's) keyed by `sha256` is always coherent.
 *
 * Anywhere in a task's args or kwargs, at any depth, `{ "$fx": "object", "id": …, … }` stands for an
 * object's content: the server checks at submit that the caller may read it and records that the task
 * refers to it (which is what lets the task's endpoint fetch it); the agent fetches it (once per
 * endpoint, into a content-addressed cache) and hands the function its content: js a Buffer (`bytes`)
 * or the parsed value (`json`); python `bytes` or the value; shell and mpi a file path.
 *
 * A result larger than the inline limit, and any result a function returns as bytes (a js Buffer or
 * Uint8Array, python `bytes`), is stored as an object owned by the task's owner; outcomes then carry
 * `resultRef` and the SDKs fetch it on `getResult` (`getResultRef` gives the reference).
 */

/** How an object's bytes are read back: raw bytes, or UTF-8 JSON of one value. */
export const ObjectEncoding = z.enum(['bytes', 'json']);
export type ObjectEncoding = z.infer<typeof ObjectEncoding>;

export const Sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits (a sha256)');

/** The reference as it travels in task arguments and outcomes. The server fills in every field from its own row. */
export const ObjectRef = z
  .object({
    $fx: z.literal('object'),
    id: Uuid,
    sha256: Sha256Hex,
    size: z.number().int().min(0),
    encoding: ObjectEncoding,
  })
  .strict();
export type ObjectRef = z.infer<typeof ObjectRef>;

/** A reference as a client may send it in arguments: the id alone is enough (the server completes it). */
export const ObjectRefInput = z
  .object({
    $fx: z.literal('object'),
    id: Uuid,
    sha256: Sha256Hex.optional(),
    size: z.number().int().min(0).optional(),
    encoding: ObjectEncoding.optional(),
  })
  .strict();
export type ObjectRefInput = z.infer<typeof ObjectRefInput>;

export const isObjectRef = (v: unknown): v is ObjectRefInput =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && (v as { $fx?: unknown }).$fx === 'object';

/** Longest object name, in characters. */
export const MAX_OBJECT_NAME_CHARS = 1024;

/**
 * A path-like key such as `input/sample-17.fastq`: segments of letters, digits, `.`, `_`, `-`, `+`, `=`,
 * `@` separated by single `/`; no empty, `.` or `..` segment, no leading or trailing `/`.
 */
export const ObjectName = z
  .string()
  .min(1)
  .max(MAX_OBJECT_NAME_CHARS)
  .regex(
    /^(?!.*(?:^|\/)\.{1,2}(?:\/|$))[A-Za-z0-9._+=@-]+(?:\/[A-Za-z0-9._+=@-]+)*$/,
    'must be a path-like key such as "input/sample-17.fastq": segments of letters, digits and . _ - + = @ separated by single "/", none of them "." or ".."',
  );
export type ObjectName = z.infer<typeof ObjectName>;

/** A name prefix (`input/`, `runs/2026-`): the same characters, and it may end with `/`. */
export const ObjectPrefix = z
  .string()
  .min(1)
  .max(MAX_OBJECT_NAME_CHARS)
  .regex(/^[A-Za-z0-9._+=@/-]+$/, 'must hold only letters, digits and . _ - + = @ /');

/** Longest TTL an object may be given: ten years. */
export const MAX_OBJECT_TTL_SECONDS = 10 * 365 * 24 * 3600;

export const ObjectInfo = z.object({
  id: Uuid,
  ownerId: Uuid,
  name: z.string().nullable(),
  sha256: Sha256Hex,
  size: z.number().int(),
  encoding: ObjectEncoding,
  createdAt: z.string(),
  /** When it may be collected (once nothing that can still run refers to it); null: kept until deleted. */
  expiresAt: z.string().nullable(),
  /** Set when it holds that task's result or one of its named outputs. */
  taskId: Uuid.nullable(),
  /** What to put in a task's arguments to pass this object. */
  ref: ObjectRef,
});
export type ObjectInfo = z.infer<typeof ObjectInfo>;

/**
 * `POST /v1/objects/uploads`: opens a resumable upload. The bytes then go in one or more
 * `PUT /v1/objects/uploads/:uploadId` requests (`Content-Type: application/octet-stream`, header
 * `Upload-Offset`: where this part starts, which must equal the bytes the server already holds);
 * `GET /v1/objects/uploads/:uploadId` tells how many it holds after a dropped connection, and
 * `POST /v1/objects/uploads/:uploadId/complete` checks them (size, and sha256 when given) and creates
 * the object. With a name that an object of the caller already has, the new object takes the name
 * over and the old one is deleted (it is collected once nothing that can still run refers to it).
 */
export const CreateUploadRequest = z
  .object({
    name: ObjectName.optional(),
    encoding: ObjectEncoding.default('bytes'),
    ttlSeconds: z.number().int().min(1).max(MAX_OBJECT_TTL_SECONDS).optional(),
    /** The total size, when known: checked against the quota and the object size limit before any byte is sent. */
    size: z.number().int().min(0).optional(),
    /** Checked at `complete`: a mismatch refuses the object. */
    sha256: Sha256Hex.optional(),
    /**
     * Endpoint tokens only: the upload holds the result (or a named output, with `name`) of this task,
     * which must be leased to the calling endpoint; the object belongs to the task's owner.
     */
    taskId: Uuid.optional(),
  })
  .strict();
export type CreateUploadRequest = z.input<typeof CreateUploadRequest>;

export const UploadInfo = z.object({
  uploadId: Uuid,
  /** Bytes the server holds: the next PUT starts here. */
  offset: z.number().int(),
  size: z.number().int().nullable(),
  /** An upload not completed by then is discarded. */
  expiresAt: z.string(),
});
export type UploadInfo = z.infer<typeof UploadInfo>;

/** Header of `PUT /v1/objects/uploads/:uploadId`: the offset this part starts at. */
export const UPLOAD_OFFSET_HEADER = 'upload-offset';

/** `GET /v1/objects`: the caller's objects (admins: `ownerId` to see another's), newest first, keyset-paged. */
export const ListObjectsQuery = z
  .object({
    /** Only objects whose name starts with this. */
    prefix: ObjectPrefix.optional(),
    /** Only the object of exactly this name. */
    name: ObjectName.optional(),
    ...pageQuery(100),
    ownerId: Uuid.optional(),
  })
  .strict();
export type ListObjectsQuery = z.input<typeof ListObjectsQuery>;

export const ListObjectsResponse = z.object({
  ...pageResponse(ObjectInfo),
  /** The caller's bytes in live objects, and their quota. */
  usage: z.object({ bytes: z.number().int(), quotaBytes: z.number().int() }).optional(),
});
export type ListObjectsResponse = z.infer<typeof ListObjectsResponse>;

// ---- triggers ----------------------------------------------------------------------------------

/**
 * `POST /v1/triggers`: an object the caller puts with a name under `prefix` runs `function` on
 * `endpoint` with one argument, the object's reference, exactly once per object (durably: a put while
 * the endpoint is offline runs when it returns). With `outputPrefix`, the task's result is stored as
 * an object named `outputPrefix` + the part of the input's name after `prefix`.
 */
export const CreateTriggerRequest = z
  .object({
    prefix: ObjectPrefix,
    function: FunctionRef,
    endpoint: EndpointRef,
    outputPrefix: ObjectPrefix.optional(),
    /**
     * Also fire on named outputs that another user's endpoint (a member of the caller's endpoint group)
     * stored for the caller's tasks: that endpoint chose their names and bytes. Default false: such an
     * object is recorded as a firing that started no task.
     */
    fromMembers: z.boolean().optional(),
  })
  .strict();
export type CreateTriggerRequest = z.input<typeof CreateTriggerRequest>;

export const TriggerInfo = z.object({
  id: Uuid,
  ownerId: Uuid,
  prefix: z.string(),
  functionId: Uuid,
  endpointId: Uuid,
  outputPrefix: z.string().nullable(),
  fromMembers: z.boolean(),
  createdAt: z.string(),
  /** Objects it has fired for so far, a firing that could start no task (its endpoint deleted, a member's output) included. */
  fired: z.number().int(),
});
export type TriggerInfo = z.infer<typeof TriggerInfo>;

/** `GET /v1/triggers`: the caller's live triggers, oldest first. */
export const ListTriggersResponse = z.object({ items: z.array(TriggerInfo) });
export type ListTriggersResponse = z.infer<typeof ListTriggersResponse>;
