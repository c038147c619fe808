import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../../config/env.js';
import { FxException } from '../../common/fx.exception.js';
import { ObjectsRepository } from './objects.repository.js';
import type { UploadRow } from './uploads.repository.js';

/** Most uploads one user may have open at once: each is a row and a file, whatever its size. */
export const MAX_OPEN_UPLOADS_PER_USER = 10_000;

/** How many bytes an upload may hold in all, and which bound says so. */
export type Cap = { reason: 'size'; bytes: number } | { reason: 'max'; bytes: number } | { reason: 'quota'; bytes: number; used: number; quota: number };

/** `n` bytes as people read them: 1536 → "1536 bytes (1.5 KiB)". */
export function bytesText(n: number): string {
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let unit = '';
  for (const u of units) {
    if (v < 1024) break;
    v /= 1024;
    unit = u;
  }
  return unit ? `${n} bytes (${v.toFixed(v < 10 ? 1 : 0)} ${unit})` : `${n} bytes`;
}

/**
 * The bounds of what a user may store: FX_MAX_OBJECT_BYTES per object, and FX_OBJECT_QUOTA_BYTES over
 * their live objects and open uploads together (an open upload counts with its declared size, or the
 * bytes it holds). Read before each upload and each part, not serialised: uploads racing (or on other
 * replicas) may together pass the quota by what they carry at that moment, as for the task quota.
 */
@Injectable()
export class ObjectQuota {
  constructor(
    @Inject(APP_CONFIG) private readonly config: Pick<AppConfig, 'FX_MAX_OBJECT_BYTES' | 'FX_OBJECT_QUOTA_BYTES'>,
    private readonly objects: ObjectsRepository,
  ) {}

  /** An upload of `size` bytes (0: not said) may be opened for this owner. */
  async checkOpen(ownerId: string, size: number): Promise<void> {
    const max = this.config.FX_MAX_OBJECT_BYTES;
    if (size > max)
      throw new FxException(
        'PAYLOAD_TOO_LARGE',
        `the object would hold ${bytesText(size)}; an object may hold at most ${bytesText(max)} (FX_MAX_OBJECT_BYTES)`,
      );
    const { bytes, openUploads } = await this.objects.usage(ownerId);
    if (openUploads >= MAX_OPEN_UPLOADS_PER_USER)
      throw new FxException(
        'QUOTA_EXCEEDED',
        `${openUploads} uploads are open, the most one user may have: complete them or let them expire (after FX_UPLOAD_TTL_SECONDS) before opening more`,
      );
    const quota = this.config.FX_OBJECT_QUOTA_BYTES;
    if (quota > 0 && bytes + size > quota) throw this.quotaError(bytes, quota, size);
  }

  /** The most bytes this upload may hold in all, now. */
  async capFor(up: UploadRow): Promise<Cap> {
    const max = this.config.FX_MAX_OBJECT_BYTES;
    const declared = up.size === null ? null : Number(up.size);
    let cap: Cap = declared !== null && declared <= max ? { reason: 'size', bytes: declared } : { reason: 'max', bytes: max };
    const quota = this.config.FX_OBJECT_QUOTA_BYTES;
    if (quota > 0) {
      const used = (await this.objects.usage(up.owner_id, up.id)).bytes;
      const room = Math.max(0, quota - used);
      if (room < cap.bytes) cap = { reason: 'quota', bytes: room, used, quota };
    }
    return cap;
  }

  /** Why a part may not bring the upload from `offset` to `attempted` bytes (null: past the cap, by how much unknown). */
  capError(cap: Cap, offset: number, attempted: number | null): FxException {
    const to = attempted === null ? `past ${bytesText(cap.bytes)}` : `to ${bytesText(attempted)}`;
    const details = { offset };
    switch (cap.reason) {
      case 'size':
        return new FxException('PAYLOAD_TOO_LARGE', `this upload was opened for ${bytesText(cap.bytes)}; this part would bring it ${to}`, details);
      case 'max':
        return new FxException(
          'PAYLOAD_TOO_LARGE',
          `an object may hold at most ${bytesText(cap.bytes)} (FX_MAX_OBJECT_BYTES); this part would bring the upload ${to}`,
          details,
        );
      case 'quota':
        return new FxException(
          'QUOTA_EXCEEDED',
          `your objects and other open uploads use ${bytesText(cap.used)} of your quota of ${bytesText(cap.quota)} (FX_OBJECT_QUOTA_BYTES), which leaves this upload room for ${bytesText(cap.bytes)}; this part would bring it ${to}: delete objects you no longer need`,
          details,
        );
    }
  }

  /** Usage and quota as GET /v1/objects shows them (quotaBytes 0: no quota). */
  async usage(ownerId: string): Promise<{ bytes: number; quotaBytes: number }> {
    return { bytes: (await this.objects.usage(ownerId)).bytes, quotaBytes: this.config.FX_OBJECT_QUOTA_BYTES };
  }

  private quotaError(used: number, quota: number, adding: number): FxException {
    return new FxException(
      'QUOTA_EXCEEDED',
      `your objects and open uploads use ${bytesText(used)} of your quota of ${bytesText(quota)} (FX_OBJECT_QUOTA_BYTES); ${bytesText(adding)} more would pass it: delete objects you no longer need`,
      { usedBytes: used, quotaBytes: quota },
    );
  }
}
