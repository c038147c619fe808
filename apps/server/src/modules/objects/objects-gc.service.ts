import { Inject, Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../../config/env.js';
import { PeriodicTask } from '../../common/periodic-task.js';
import type { ObjectStore } from '../../storage/object-store.js';
import { ObjectsGcRepository } from './objects-gc.repository.js';
import { OBJECT_STORE, UPLOAD_FILES } from './object-store.provider.js';
import type { UploadFiles } from './upload-files.js';

/** Rows handled per statement, and statements per sweep at most (the next sweep carries on). */
const PAGE = 1_000;
const MAX_PAGES = 100;
/** Every this many sweeps (and at the first), the whole store is looked through for what a crash left behind. */
const FULL_PASS_EVERY = 60;
/** A blob file without a row is debris only once it is this old: a completing upload writes the file just before its row commits. */
const ORPHAN_BLOB_AGE_MS = 60 * 60 * 1000;
/** A staging file without an upload row: its upload was completed (the file's removal came after the commit) or discarded. */
const ORPHAN_UPLOAD_AGE_MS = 10 * 60 * 1000;

/** Files kept beside rows, named by a key: which of them have a row, and how one goes. */
interface OrphanSource {
  list(): AsyncIterable<{ key: string; modifiedAt: Date }>;
  known(keys: string[]): Promise<Set<string>>;
  remove(key: string): Promise<void>;
}

export interface SweepCounts {
  objects: number;
  blobs: number;
  uploads: number;
  files: number;
}

/**
 * The object collector (DESIGN invariant 10): an object deleted, or past its expiry, goes once no task
 * that can still run refers to it and it is no retained task's result; a blob goes once no object
 * points at it; an upload goes at its expiry, with its staging file. All state is in PostgreSQL and the
 * store, so a restart resumes where a sweep stopped, and replicas sweeping together do each thing once.
 */
@Injectable()
export class ObjectsGcService implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('ObjectsGc');
  private readonly sweeper = new PeriodicTask(() => this.run(false));
  private sweeps = 0;
  private readonly orphanBlobs: OrphanSource = {
    list: () => keyed(this.store.list(), (b) => b.sha256),
    known: (shas) => this.gc.knownBlobs(shas),
    remove: (sha) => this.store.delete(sha),
  };
  private readonly orphanUploads: OrphanSource = {
    list: () => keyed(this.files.list(), (u) => u.uploadId),
    known: (ids) => this.gc.knownUploads(ids),
    remove: (id) => this.files.remove(id),
  };

  constructor(
    @Inject(APP_CONFIG) private readonly config: Pick<AppConfig, 'FX_OBJECT_GC_INTERVAL_MS'>,
    private readonly gc: ObjectsGcRepository,
    @Inject(OBJECT_STORE) private readonly store: ObjectStore,
    @Inject(UPLOAD_FILES) private readonly files: UploadFiles,
  ) {}

  onApplicationBootstrap(): void {
    this.sweeper.start(this.config.FX_OBJECT_GC_INTERVAL_MS);
  }

  async onModuleDestroy(): Promise<void> {
    this.sweeper.stop();
    await this.sweeper.settled();
  }

  /** One sweep (a sweep already under way on this replica is joined, not doubled). */
  sweep(full = false): Promise<SweepCounts> {
    return this.sweeper.join(() => this.run(full));
  }

  private async run(full: boolean): Promise<SweepCounts> {
    full ||= this.sweeps++ % FULL_PASS_EVERY === 0;
    const counts: SweepCounts = { objects: 0, blobs: 0, uploads: 0, files: 0 };
    try {
      const remove = (sha: string) => this.store.delete(sha);
      for (let page = 0; page < MAX_PAGES; page++) {
        const shas = await this.gc.collectObjects(PAGE);
        counts.objects += shas.length;
        for (let i = 0; i < shas.length; i += PAGE) counts.blobs += await this.gc.deleteUnreferencedBlobs(shas.slice(i, i + PAGE), PAGE, remove);
        if (shas.length < PAGE) break;
      }
      for (let page = 0; page < MAX_PAGES; page++) {
        const ids = await this.gc.expireUploads(PAGE);
        for (const id of ids) await this.files.remove(id);
        counts.uploads += ids.length;
        if (ids.length < PAGE) break;
      }
      if (full) {
        // a crash between collecting an object and deleting its blob left a blob row nobody points at
        for (let page = 0; page < MAX_PAGES; page++) {
          const n = await this.gc.deleteUnreferencedBlobs(null, PAGE, remove);
          counts.blobs += n;
          if (n < PAGE) break;
        }
        counts.files += await this.removeOrphans(this.orphanBlobs, ORPHAN_BLOB_AGE_MS);
        counts.files += await this.removeOrphans(this.orphanUploads, ORPHAN_UPLOAD_AGE_MS);
      }
      if (counts.objects || counts.blobs || counts.uploads || counts.files) this.logger.log({ msg: 'collected objects', ...counts });
    } catch (e) {
      this.logger.error(`object collection failed; the next sweep retries: ${(e as Error).message}`);
      throw e;
    }
    return counts;
  }

  /**
   * Files without a row, once older than `ageMs`: blob files (a crash between writing the blob and
   * committing its object) and staging files whose upload row is gone (completed, or discarded by a
   * crash's survivor).
   */
  private async removeOrphans(files: OrphanSource, ageMs: number): Promise<number> {
    let removed = 0;
    const cutoff = Date.now() - ageMs;
    let batch: Array<{ key: string; modifiedAt: Date }> = [];
    const flush = async () => {
      const known = await files.known(batch.map((b) => b.key));
      for (const b of batch) {
        if (known.has(b.key) || b.modifiedAt.getTime() > cutoff) continue;
        await files.remove(b.key);
        removed++;
      }
      batch = [];
    };
    for await (const b of files.list()) {
      batch.push(b);
      if (batch.length >= PAGE) await flush();
    }
    if (batch.length) await flush();
    return removed;
  }
}

async function* keyed<T extends { modifiedAt: Date }>(entries: AsyncIterable<T>, key: (e: T) => string): AsyncIterable<{ key: string; modifiedAt: Date }> {
  for await (const e of entries) yield { key: key(e), modifiedAt: e.modifiedAt };
}
