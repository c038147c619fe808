import { Inject, Injectable, Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { CreateUploadRequest, ObjectEncoding, ObjectInfo, UploadInfo } from '@fx/protocol';
import { APP_CONFIG, type AppConfig } from '../../config/env.js';
import { FxException } from '../../common/fx.exception.js';
import type { ObjectStore } from '../../storage/object-store.js';
import type { Principal } from '../auth/principal.js';
import { OBJECT_STORE, UPLOAD_FILES } from './object-store.provider.js';
import { ObjectHooks } from '../events/object-hooks.js';
import { toObjectInfo, toUploadInfo } from './object-info.js';
import { ObjectsRepository } from './objects.repository.js';
import { NameTakenError, UploadGoneError, UploadsRepository, type UploadRow } from './uploads.repository.js';
import type { UploadFiles } from './upload-files.js';
import { ObjectQuota } from './object-quota.js';
import { isJson } from '../auth/body-gate.js';
import { AuditService } from '../audit/audit.service.js';
import { MetricsService } from '../metrics/metrics.service.js';

/** How long a writing request's claim on an upload lasts unless renewed (it is renewed every third of it). */
const CLAIM_MS = 30_000;

/** What POST /v1/objects takes in its query string. */
export interface PutQuery {
  name?: string;
  encoding: ObjectEncoding;
  ttlSeconds?: number;
}

/** The request's Content-Length, when it sent one. */
function contentLength(req: IncomingMessage): number | null {
  const raw = req.headers['content-length'];
  if (raw === undefined || req.headers['transfer-encoding'] !== undefined) return null;
  const n = Number(raw);
  return Number.isSafeInteger(n) && n >= 0 ? n : null;
}

/**
 * Objects another user's endpoint (a member of the task owner's endpoint group) may open uploads for, per
 * task it holds: they are the owner's, count against her quota and her open uploads, and keep no expiry
 * when named, so a member holding one of her tasks could otherwise fill both and fire her `fromMembers`
 * triggers without end. Her own endpoints are not counted. Counted per attempt of the task: a task
 * retried or requeued after a lost lease (on whichever member) owes nothing for its earlier attempts'
 * uploads, and a member can start a new attempt only as often as FX_MAX_ATTEMPTS and the task's
 * retries allow. A speculative copy counts apart from the attempt it runs beside (a task gets one
 * copy, ever), so a slow original's uploads do not keep its copy from storing the result.
 */
export const MAX_MEMBER_UPLOADS_PER_TASK = 100;

/**
 * Resumable uploads (POST/PUT/GET /v1/objects/uploads…) and one-shot puts (POST /v1/objects). Bytes go
 * from the request straight to the upload's staging file, never held whole; every bound (declared size,
 * FX_MAX_OBJECT_BYTES, the owner's quota) is checked before a byte is read, and again while they stream.
 * Completing hashes what the server holds, moves it into the store (deduplicated by sha256) and creates
 * the object row.
 */
@Injectable()
export class UploadsService {
  private readonly logger = new Logger('Uploads');

  constructor(
    @Inject(APP_CONFIG) private readonly config: Pick<AppConfig, 'FX_UPLOAD_TTL_SECONDS' | 'FX_REQUEST_TIMEOUT_MS' | 'FX_RESULT_RETENTION_SECONDS'>,
    private readonly uploads: UploadsRepository,
    private readonly objects: ObjectsRepository,
    private readonly quota: ObjectQuota,
    @Inject(OBJECT_STORE) private readonly store: ObjectStore,
    @Inject(UPLOAD_FILES) private readonly files: UploadFiles,
    private readonly hooks: ObjectHooks,
    private readonly audit: AuditService,
    private readonly metrics: MetricsService,
  ) {}

  async create(p: Principal, req: CreateUploadRequest): Promise<UploadInfo> {
    let ownerId = p.userId;
    let taskId: string | null = null;
    let attempt: number | null = null;
    let speculative = false;
    if (p.kind === 'endpoint') {
      if (!req.taskId)
        throw new FxException('FORBIDDEN', "an endpoint token may open an upload only for a task leased to its endpoint: give the task's taskId");
      const task = await this.objects.findLeasedTask(req.taskId, p.endpointId!);
      if (!task) throw FxException.notFound('task', req.taskId);
      // the task's output belongs to the task's owner, and counts against their quota
      ownerId = task.owner_id;
      if (ownerId !== p.userId && (await this.uploads.countForTask(task.id, task.attempt, task.speculative)) >= MAX_MEMBER_UPLOADS_PER_TASK)
        throw new FxException(
          'QUOTA_EXCEEDED',
          `task ${task.id} is another user's: an endpoint of their endpoint group stores at most ${MAX_MEMBER_UPLOADS_PER_TASK} objects for one of their tasks (its result and named outputs)`,
        );
      taskId = task.id;
      attempt = task.attempt;
      speculative = task.speculative;
    } else if (req.taskId) {
      throw new FxException('VALIDATION_FAILED', "taskId is for endpoint tokens (an agent storing a task's result); leave it out");
    }
    await this.quota.checkOpen(ownerId, req.size ?? 0);
    const row = await this.uploads.create({
      id: randomUUID(),
      ownerId,
      taskId,
      attempt,
      speculative,
      name: req.name ?? null,
      encoding: req.encoding ?? 'bytes',
      ttlSeconds: req.ttlSeconds ?? null,
      size: req.size ?? null,
      sha256: req.sha256 ?? null,
      openSeconds: this.config.FX_UPLOAD_TTL_SECONDS,
    });
    return toUploadInfo(row);
  }

  async info(p: Principal, uploadId: string): Promise<UploadInfo> {
    return toUploadInfo(await this.visible(p, uploadId));
  }

  /**
   * Appends one part, which must start at the offset the server holds (409 with `details.offset`
   * otherwise, or while another request writes to the upload). A part cut off midway keeps the bytes
   * that reached the disk: GET the upload for its offset and go on from there.
   */
  async put(p: Principal, uploadId: string, offsetHeader: string | string[] | undefined, req: IncomingMessage): Promise<UploadInfo> {
    const offset = Number(Array.isArray(offsetHeader) ? offsetHeader[0] : offsetHeader);
    if (offsetHeader === undefined || !Number.isSafeInteger(offset) || offset < 0)
      throw new FxException('VALIDATION_FAILED', 'send the header Upload-Offset: the offset this part starts at (GET the upload for it)');
    if (isJson(req.headers['content-type']) || req.readableEnded)
      throw new FxException('VALIDATION_FAILED', "send an upload's bytes with Content-Type: application/octet-stream");
    const up = await this.visible(p, uploadId);
    // the bounds are checked before a byte is read when the request says how many it brings
    const cap = await this.quota.capFor(up);
    const length = contentLength(req);
    if (length !== null && offset + length > cap.bytes) throw this.quota.capError(cap, offset, offset + length);
    const writer = randomUUID();
    const claimed = await this.uploads.claim(uploadId, writer, offset, CLAIM_MS);
    if (!claimed) throw conflict(uploadId, await this.uploads.find(uploadId), offset);
    const outcome = await this.whileClaimed(uploadId, writer, () =>
      this.files.writePart(uploadId, offset, req, cap.bytes - offset, this.config.FX_REQUEST_TIMEOUT_MS),
    );
    this.metrics.objectBytesIn(outcome.written);
    const after = await this.uploads.release(uploadId, writer, offset + outcome.written);
    if (!after) throw FxException.notFound('upload', uploadId);
    if (outcome.kind === 'too-large') throw this.quota.capError(cap, Number(after.offset_bytes), null);
    if (outcome.kind === 'aborted')
      throw new FxException(
        'VALIDATION_FAILED',
        `the part ended early (${outcome.error?.message ?? 'the connection closed'}); the upload holds ${Number(after.offset_bytes)} bytes`,
        {
          offset: Number(after.offset_bytes),
        },
      );
    return toUploadInfo(after);
  }

  /**
   * Checks what the server holds (the declared size, and sha256 when given) and makes it an object. A
   * completed upload answers with its object again: a complete whose answer was lost (the server died
   * after the commit, the connection dropped) is repeated safely, so an agent storing a task's result
   * does not fail the task over it.
   */
  async complete(p: Principal, uploadId: string): Promise<ObjectInfo> {
    const seen = await this.visible(p, uploadId, true);
    if (seen.object_id !== null) return this.completedAs(seen.object_id);
    const writer = randomUUID();
    const up = await this.uploads.claim(uploadId, writer, null, CLAIM_MS);
    if (!up) {
      const now = await this.uploads.find(uploadId);
      if (now?.object_id) return this.completedAs(now.object_id);
      throw conflict(uploadId, now, null);
    }
    let claimed = true;
    try {
      const size = Number(up.offset_bytes);
      if (up.size !== null && size !== Number(up.size))
        throw new FxException(
          'CONFLICT',
          `the upload holds ${size} of the ${Number(up.size)} bytes declared: send the rest from offset ${size}, then complete it`,
          {
            offset: size,
          },
        );
      const sha256 = await this.keepClaim(uploadId, writer, () => this.files.hash(uploadId, size));
      if (up.sha256 !== null && sha256 !== up.sha256) {
        claimed = false;
        await this.discard(uploadId);
        throw new FxException(
          'VALIDATION_FAILED',
          `the uploaded bytes have sha256 ${sha256}, not the ${up.sha256} declared; the upload is discarded: upload the object again`,
        );
      }
      const file = this.files.pathOf(uploadId);
      await this.store.put(file, sha256);
      // another user's endpoint (a member of the owner's group) runs the owner's task, but may not replace what the owner holds
      const foreign = p.kind === 'endpoint' && up.name !== null && up.owner_id !== p.userId ? p.endpointId! : undefined;
      const row = await this.uploads.commit(
        up,
        writer,
        { id: randomUUID(), sha256, size, expiresInSeconds: this.expiryOf(up) },
        async () => {
          // the collector may have deleted the blob between the put and this lock
          if (!(await this.store.stat(sha256))) await this.store.put(file, sha256);
        },
        foreign,
      );
      claimed = false;
      await this.files.remove(uploadId).catch((e: Error) => this.logger.warn(`could not remove the staging file of upload ${uploadId}: ${e.message}`));
      // an endpoint token storing a task's output acts as its endpoint; the object is the task owner's
      await this.audit.record(p, {
        action: 'object.created',
        target: { type: 'object', id: row.id },
        ownerId: row.owner_id,
        details: { name: row.name, size, sha256, encoding: row.encoding, ...(row.task_id ? { taskId: row.task_id } : {}) },
      });
      // a named object may fire triggers: at once on this replica (their sweep repairs a crash here)
      if (row.name !== null) this.hooks.named([row.id]);
      return toObjectInfo(row);
    } catch (e) {
      if (e instanceof UploadGoneError) {
        claimed = false;
        throw FxException.notFound('upload', uploadId);
      }
      if (e instanceof NameTakenError && e.holder === 'original')
        throw new FxException(
          'FORBIDDEN',
          `the name "${e.objectName}" holds this task's output stored by its original attempt, which its speculative copy does not replace`,
        );
      if (e instanceof NameTakenError)
        throw new FxException(
          'FORBIDDEN',
          `the name "${e.objectName}" holds an object of the task's owner that this endpoint did not store: an endpoint of another user (a member of the owner's endpoint group) stores named outputs only under a free name or over its own earlier outputs`,
        );
      throw e;
    } finally {
      if (claimed) await this.uploads.release(uploadId, writer, null).catch(() => undefined);
    }
  }

  /** POST /v1/objects: an upload of one part, completed at once; nothing is left behind when it fails. */
  async putOnce(p: Principal, q: PutQuery, req: IncomingMessage): Promise<ObjectInfo> {
    const length = contentLength(req);
    const up = await this.create(p, { name: q.name, encoding: q.encoding, ttlSeconds: q.ttlSeconds, ...(length !== null ? { size: length } : {}) });
    try {
      await this.put(p, up.uploadId, '0', req);
      return await this.complete(p, up.uploadId);
    } catch (e) {
      await this.discard(up.uploadId).catch(() => undefined);
      throw e;
    }
  }

  /**
   * The upload, if this caller may write to it: its owner (or an admin), or the endpoint that runs the
   * run of its task that opened it (the original attempt, or its speculative copy: neither writes to the
   * other's). A completed one is gone, except to a repeated complete (`completed`).
   */
  private async visible(p: Principal, uploadId: string, completed = false): Promise<UploadRow> {
    const up = await this.uploads.find(uploadId);
    const ok =
      up !== null &&
      (completed || up.object_id === null) &&
      (p.kind === 'endpoint'
        ? up.task_id !== null && (await this.objects.findLeasedTask(up.task_id, p.endpointId!))?.speculative === up.speculative
        : p.admin || up.owner_id === p.userId);
    if (!ok) throw FxException.notFound('upload', uploadId);
    return up!;
  }

  /**
   * A task's result kept no longer than its task (FX_RESULT_RETENTION_SECONDS; it is also kept while
   * its task is retained); a named output, like any object put by its owner, until deleted.
   */
  private expiryOf(up: UploadRow): number | null {
    if (up.ttl_seconds !== null) return up.ttl_seconds;
    return up.task_id !== null && up.name === null ? this.config.FX_RESULT_RETENTION_SECONDS : null;
  }

  /** The object a completed upload became, unless it was deleted since. */
  private async completedAs(objectId: string): Promise<ObjectInfo> {
    const obj = await this.objects.findVisible(objectId, null);
    if (!obj) throw FxException.notFound('object', objectId);
    return toObjectInfo(obj);
  }

  /** Runs `work` while renewing the claim; the claim is given up (offset unchanged) when it throws. */
  private async whileClaimed<T>(uploadId: string, writer: string, work: () => Promise<T>): Promise<T> {
    try {
      return await this.keepClaim(uploadId, writer, work);
    } catch (e) {
      await this.uploads.release(uploadId, writer, null).catch(() => undefined);
      throw e;
    }
  }

  private async keepClaim<T>(uploadId: string, writer: string, work: () => Promise<T>): Promise<T> {
    const timer = setInterval(() => void this.uploads.extendClaim(uploadId, writer, CLAIM_MS).catch(() => undefined), CLAIM_MS / 3);
    timer.unref();
    try {
      return await work();
    } finally {
      clearInterval(timer);
    }
  }

  private async discard(uploadId: string): Promise<void> {
    await this.uploads.remove(uploadId);
    await this.files.remove(uploadId);
  }
}

/**
 * Why a request could not claim the upload (`now`: its row, read after the claim failed). `writing`:
 * another request holds it, for at most CLAIM_MS unless it goes on (a request cut off by a server crash
 * holds it that long), so the same request later succeeds.
 */
function conflict(uploadId: string, now: UploadRow | null, offset: number | null): FxException {
  // completed meanwhile: gone, as it is to every request but a repeated complete
  if (!now || now.object_id !== null) return FxException.notFound('upload', uploadId);
  const held = Number(now.offset_bytes);
  if (offset !== null && held !== offset)
    return new FxException('CONFLICT', `this part starts at offset ${offset} but the server holds ${held} bytes of the upload: send from offset ${held}`, {
      offset: held,
    });
  return new FxException(
    'CONFLICT',
    `another request is writing to upload ${uploadId}; retry once it ends, within ${CLAIM_MS / 1000} s if it was cut off (it holds ${held} bytes so far)`,
    { offset: held, writing: true },
  );
}
