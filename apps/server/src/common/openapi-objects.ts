import { z } from 'zod';
import { ListObjectsResponse, ListTriggersResponse, TriggerInfo, ObjectInfo, UploadInfo } from '@fx/protocol';
import type { OperationDoc } from './openapi-operations.js';

/** The bytes of an upload part or a one-shot put. */
const Bytes = z.string().meta({ contentMediaType: 'application/octet-stream' });
const ENDPOINT_TOKENS = ' Endpoint tokens may call it too, for the tasks leased to their endpoint (see docs/objects.md).';

/** /openapi.json's words on objects, uploads and triggers (see OPERATIONS). */
export const OBJECT_OPERATIONS: Record<string, OperationDoc> = {
  'POST /v1/objects/uploads': {
    summary: 'Open a resumable upload',
    description:
      'Opens an upload of an object (optionally named, with a TTL, a declared size and sha256), checked against FX_MAX_OBJECT_BYTES and your quota before any byte is sent. The bytes then go in PUT parts.' +
      ENDPOINT_TOKENS,
    response: UploadInfo,
    body: true,
    errors: ['NOT_FOUND', 'QUOTA_EXCEEDED'],
  },
  'PUT /v1/objects/uploads/{id}': {
    summary: 'Send a part of an upload',
    description:
      'Streams the body (Content-Type: application/octet-stream) into the upload from the offset in the Upload-Offset header, which must be the bytes the server holds (409 CONFLICT with `details.offset` otherwise, or while another request writes to it). Answers with the new offset; a part cut off midway keeps the bytes that arrived.' +
      ENDPOINT_TOKENS,
    response: UploadInfo,
    body: true,
    id: true,
    errors: ['CONFLICT', 'QUOTA_EXCEEDED'],
  },
  'GET /v1/objects/uploads/{id}': {
    summary: 'Get an upload',
    description: 'How many bytes the server holds (where the next part starts), and until when the upload stays open.' + ENDPOINT_TOKENS,
    response: UploadInfo,
    id: true,
  },
  'POST /v1/objects/uploads/{id}/complete': {
    summary: 'Complete an upload',
    description:
      'Hashes what the server holds, checks it against the declared size and sha256, and creates the object (the same bytes are stored once). With a name you already use, the new object takes it over and the old one is deleted.' +
      ENDPOINT_TOKENS,
    response: ObjectInfo,
    id: true,
    errors: ['CONFLICT'],
  },
  'POST /v1/objects': {
    summary: 'Put an object',
    description:
      'The body (Content-Type: application/octet-stream) becomes an object in one request; `name`, `ttlSeconds` and `encoding` (bytes or json) go in the query string. For large objects prefer an upload, which can resume.',
    response: ObjectInfo,
    body: true,
    errors: ['QUOTA_EXCEEDED'],
  },
  'GET /v1/objects': {
    summary: 'List objects',
    description:
      'Your live objects (admins: `ownerId` for another user), newest first, filtered by `prefix` or `name`, keyset-paged; with your usage and quota.',
    response: ListObjectsResponse,
  },
  'GET /v1/objects/{id}': {
    summary: 'Get an object',
    description: "Its name, size, sha256, encoding, expiry, and the reference to put in task arguments. Another user's object is 404.",
    response: ObjectInfo,
    id: true,
  },
  'DELETE /v1/objects/{id}': {
    summary: 'Delete an object',
    description: 'It is gone for you at once; its bytes are collected once no task that can still run refers to it.',
    response: null,
    id: true,
  },
  'GET /v1/objects/{id}/content': {
    summary: "An object's bytes",
    description:
      'The content, `application/octet-stream` (or `application/json` for encoding json), with `ETag` (its sha256) and `X-Fx-Sha256`; `Range: bytes=N-` answers 206 with the bytes from N (resuming a download).' +
      ENDPOINT_TOKENS,
    response: Bytes,
    binary: true,
    id: true,
  },
  'POST /v1/triggers': {
    summary: 'Create a trigger',
    description:
      'An object you put with a name under `prefix` runs `function` on `endpoint` with its reference, exactly once per object (also when the endpoint was offline); with `outputPrefix` the result is stored as an object named `outputPrefix` + the rest of the input name. A trigger whose outputs would fire it again (directly or through your other triggers) is refused.',
    response: TriggerInfo,
    body: true,
    errors: ['NOT_FOUND', 'QUOTA_EXCEEDED', 'FUNCTION_NOT_ALLOWED', 'ENDPOINT_LOCKED'],
  },
  'GET /v1/triggers': {
    summary: 'List triggers',
    description: 'Your live triggers, oldest first, with how many times each has fired.',
    response: ListTriggersResponse,
  },
  'GET /v1/triggers/{id}': {
    summary: 'Get a trigger',
    description: "What it runs and how many times it has fired. Another user's trigger is 404.",
    response: TriggerInfo,
    id: true,
  },
  'DELETE /v1/triggers/{id}': {
    summary: 'Delete a trigger',
    description: 'It fires no more; the tasks it started run on.',
    response: null,
    id: true,
  },
};
