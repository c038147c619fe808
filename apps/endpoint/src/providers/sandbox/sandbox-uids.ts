import { randomInt } from 'node:crypto';
import { existsSync } from 'node:fs';

/**
 * The uids the `uid` sandbox runs task processes as: one of its own for each worker process and each
 * shell task, so that no two of them share a user. A shared one (nobody, as before) let any task read
 * another's private directory and its processes' memory and environment (same uid: ptrace, /proc):
 * a public function's author could read the other tasks of the user running it, and two root agents of
 * different owners on one host ran both owners' tasks as one user.
 *
 * The range lies above systemd's container ranges (up to 1,879,048,191) and below 2^31, which no
 * distribution hands to people; the uids need no passwd entry. Picked at random, so two agents on one
 * host meet only by a chance of about one in 16 million per pair of live uids.
 */
export const SANDBOX_UID_FIRST = 1_900_000_000;
export const SANDBOX_UID_COUNT = 1 << 24;

/** Past this many handed out, uids whose directories are gone are forgotten. */
const PRUNE_AT = 4_096;

/** The uid each sandbox directory was made for, and back; one per agent process (every WorkerSandbox). */
class SandboxUids {
  private readonly byUid = new Map<number, string>();
  private readonly byDir = new Map<string, number>();

  /** A uid no live directory of this process holds, now held by `dir`. */
  take(dir: string): number {
    if (this.byUid.size >= PRUNE_AT) this.prune();
    for (;;) {
      const uid = SANDBOX_UID_FIRST + randomInt(SANDBOX_UID_COUNT);
      const holder = this.byUid.get(uid);
      if (holder !== undefined && existsSync(holder)) continue;
      if (holder !== undefined) this.byDir.delete(holder);
      this.byUid.set(uid, dir);
      this.byDir.set(dir, uid);
      return uid;
    }
  }

  /** The uid `dir` was made for, if it was made by take(). */
  of(dir: string): number | undefined {
    return this.byDir.get(dir);
  }

  /** `dir` is gone (release): its uid may be handed out again. */
  forget(dir: string): void {
    const uid = this.byDir.get(dir);
    if (uid === undefined) return;
    this.byDir.delete(dir);
    if (this.byUid.get(uid) === dir) this.byUid.delete(uid);
  }

  private prune(): void {
    for (const [uid, dir] of this.byUid) {
      if (existsSync(dir)) continue;
      this.byUid.delete(uid);
      this.byDir.delete(dir);
    }
  }
}

export const sandboxUids = new SandboxUids();
