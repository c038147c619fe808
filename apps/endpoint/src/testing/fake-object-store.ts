import { createHash, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ObjectEncoding, ObjectInfo, ObjectRef, UploadInfo } from '@fx/protocol';

interface StoredObject {
  info: ObjectInfo;
  data: Buffer;
}

interface Upload {
  id: string;
  taskId?: string;
  name?: string;
  encoding: ObjectEncoding;
  size?: number;
  sha256?: string;
  chunks: Buffer[];
  offset: number;
}

/** Faults a test can ask for; each counts down as requests use it. */
export interface ObjectFaults {
  /** The next this-many content GETs send only `cutAfterBytes` bytes, then drop the connection. */
  cutDownloads?: number;
  cutAfterBytes?: number;
  /** The next this-many content GETs answer 503 (an outage: the agent waits it out without giving up). */
  failDownloads?: number;
  /** The next this-many content GETs answer 500 (a failure that counts towards giving up). */
  breakDownloads?: number;
  /** The next this-many content GETs send other bytes than the object's (same length). */
  corruptDownloads?: number;
  /** The next this-many upload creations answer 404 (as for a task no longer leased to the endpoint). */
  refuseUploads?: number;
  /** The next this-many upload PUTs keep `cutUploadAfterBytes` bytes, then drop the connection. */
  cutUploads?: number;
  cutUploadAfterBytes?: number;
}

/**
 * The object routes of the data-by-reference contract (BRIEF.md), in memory, for the endpoint token:
 * content with Range, resumable uploads (Upload-Offset, 409 with the server's offset, GET to resume,
 * complete with size and sha256 checks). Counts what it serves, and injects the faults tests ask for.
 */
export class FakeObjectStore {
  readonly objects = new Map<string, StoredObject>();
  readonly uploads = new Map<string, Upload>();
  readonly faults: ObjectFaults = {};
  /** Content GETs per object id, and bytes of content sent. */
  readonly contentRequests = new Map<string, number>();
  /** The Range header of each content GET (undefined: none), in order. */
  readonly ranges: Array<string | undefined> = [];
  bytesServed = 0;
  /** Every upload request: `POST` bodies as sent. */
  readonly created: unknown[] = [];
  /** Largest object accepted (413 past it). */
  maxObjectBytes = Number.MAX_SAFE_INTEGER;

  constructor(private readonly endpointToken: () => string) {}

  /** Stores an object as a user's put would; returns its full reference. */
  put(data: Buffer | string, encoding: ObjectEncoding = 'bytes', taskId: string | null = null, name: string | null = null): ObjectRef {
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    const id = randomUUID();
    const ref: ObjectRef = { $fx: 'object', id, sha256: createHash('sha256').update(bytes).digest('hex'), size: bytes.length, encoding };
    const info: ObjectInfo = {
      id,
      ownerId: randomUUID(),
      name,
      sha256: ref.sha256,
      size: ref.size,
      encoding,
      createdAt: new Date().toISOString(),
      expiresAt: null,
      taskId,
      ref,
    };
    this.objects.set(id, { info, data: bytes });
    return ref;
  }

  content(id: string): Buffer | undefined {
    return this.objects.get(id)?.data;
  }

  /** Handles `/v1/objects…`; false when the path is not one of its routes. */
  async handle(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    const url = new URL(req.url ?? '/', 'http://fake');
    const parts = url.pathname.split('/').filter((p) => p !== '');
    if (parts[0] !== 'v1' || parts[1] !== 'objects') return false;
    if (req.headers.authorization !== `Bearer ${this.endpointToken()}`) {
      reply(res, 401, { code: 'UNAUTHENTICATED', message: 'the token is missing, expired or revoked' });
      return true;
    }
    const method = req.method ?? 'GET';
    if (parts[2] === 'uploads') await this.onUpload(req, res, method, parts[3], parts[4]);
    else if (parts.length === 4 && parts[3] === 'content' && method === 'GET') this.onContent(req, res, parts[2] as string);
    else reply(res, 404, { code: 'NOT_FOUND', message: 'no such route' });
    return true;
  }

  private onContent(req: IncomingMessage, res: ServerResponse, id: string): void {
    const object = this.objects.get(id);
    this.contentRequests.set(id, (this.contentRequests.get(id) ?? 0) + 1);
    this.ranges.push(req.headers.range);
    if (!object) return reply(res, 404, { code: 'NOT_FOUND', message: `no object ${id}` });
    if (take(this.faults, 'failDownloads')) return reply(res, 503, { code: 'UNAVAILABLE', message: 'try again' });
    if (take(this.faults, 'breakDownloads')) return reply(res, 500, { code: 'INTERNAL', message: 'broken' });
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const start = range ? Number(range[1]) : 0;
    if (start > object.data.length || (range && start === object.data.length && object.data.length > 0)) {
      res.writeHead(416, { 'content-range': `bytes */${object.data.length}` }).end();
      return;
    }
    let body = object.data.subarray(start);
    if (take(this.faults, 'corruptDownloads')) body = Buffer.from(body.map((b) => b ^ 0xff));
    const headers = {
      'content-type': object.info.encoding === 'json' ? 'application/json' : 'application/octet-stream',
      etag: `"${object.info.sha256}"`,
      'x-fx-sha256': object.info.sha256,
      'content-length': String(body.length),
      ...(range ? { 'content-range': `bytes ${start}-${object.data.length - 1}/${object.data.length}` } : {}),
    };
    res.writeHead(range ? 206 : 200, headers);
    if (take(this.faults, 'cutDownloads')) {
      const cut = body.subarray(0, this.faults.cutAfterBytes ?? Math.floor(body.length / 2));
      this.bytesServed += cut.length;
      res.write(cut, () => setTimeout(() => res.socket?.destroy(), 20));
      return;
    }
    this.bytesServed += body.length;
    res.end(body);
  }

  private async onUpload(req: IncomingMessage, res: ServerResponse, method: string, uploadId?: string, action?: string): Promise<void> {
    if (method === 'POST' && uploadId === undefined) {
      const body = JSON.parse((await readAll(req)).toString('utf8')) as Partial<Upload> & { taskId?: string };
      this.created.push(body);
      if (typeof body.taskId !== 'string') return reply(res, 403, { code: 'FORBIDDEN', message: 'an endpoint uploads only with a taskId' });
      if (take(this.faults, 'refuseUploads')) return reply(res, 404, { code: 'NOT_FOUND', message: `no task ${body.taskId} is leased to this endpoint` });
      if ((body.size ?? 0) > this.maxObjectBytes)
        return reply(res, 413, { code: 'PAYLOAD_TOO_LARGE', message: `objects may hold at most ${this.maxObjectBytes} bytes` });
      const upload: Upload = {
        id: randomUUID(),
        taskId: body.taskId,
        encoding: body.encoding ?? 'bytes',
        chunks: [],
        offset: 0,
        ...(body.name !== undefined ? { name: body.name } : {}),
        ...(body.size !== undefined ? { size: body.size } : {}),
        ...(body.sha256 !== undefined ? { sha256: body.sha256 } : {}),
      };
      this.uploads.set(upload.id, upload);
      return reply(res, 201, uploadInfo(upload));
    }
    const upload = uploadId ? this.uploads.get(uploadId) : undefined;
    if (!upload) return reply(res, 404, { code: 'NOT_FOUND', message: 'no such upload' });
    if (method === 'GET' && action === undefined) return reply(res, 200, uploadInfo(upload));
    if (method === 'PUT' && action === undefined) {
      const offset = Number(req.headers['upload-offset']);
      if (offset !== upload.offset) {
        req.resume();
        return reply(res, 409, { code: 'CONFLICT', message: `the upload holds ${upload.offset} bytes`, details: { offset: upload.offset } });
      }
      if (take(this.faults, 'cutUploads')) {
        const keep = this.faults.cutUploadAfterBytes ?? 1;
        let kept = 0;
        req.on('data', (chunk: Buffer) => {
          const part = chunk.subarray(0, Math.max(0, keep - kept));
          kept += part.length;
          if (part.length > 0) upload.chunks.push(part);
          upload.offset += part.length;
          if (kept >= keep) req.socket.destroy();
        });
        return;
      }
      const data = await readAll(req);
      upload.chunks.push(data);
      upload.offset += data.length;
      return reply(res, 200, uploadInfo(upload));
    }
    if (method === 'POST' && action === 'complete') {
      await readAll(req);
      const data = Buffer.concat(upload.chunks);
      const sha256 = createHash('sha256').update(data).digest('hex');
      if ((upload.size !== undefined && upload.size !== data.length) || (upload.sha256 !== undefined && upload.sha256 !== sha256)) {
        return reply(res, 422, { code: 'VALIDATION_FAILED', message: 'the upload does not match its declared size or sha256' });
      }
      this.uploads.delete(upload.id);
      const ref = this.put(data, upload.encoding, upload.taskId ?? null, upload.name ?? null);
      return reply(res, 201, this.objects.get(ref.id)!.info);
    }
    reply(res, 404, { code: 'NOT_FOUND', message: 'no such route' });
  }
}

function uploadInfo(upload: Upload): UploadInfo {
  return { uploadId: upload.id, offset: upload.offset, size: upload.size ?? null, expiresAt: new Date(Date.now() + 3600_000).toISOString() };
}

function take(faults: ObjectFaults, key: 'cutDownloads' | 'failDownloads' | 'breakDownloads' | 'corruptDownloads' | 'cutUploads' | 'refuseUploads'): boolean {
  const left = faults[key] ?? 0;
  if (left <= 0) return false;
  faults[key] = left - 1;
  return true;
}

async function readAll(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}
