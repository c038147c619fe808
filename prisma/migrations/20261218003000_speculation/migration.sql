-- Speculative execution (issue 16). A function may be marked idempotent: running it twice does no harm,
-- so a straggling task of it may get a second, concurrent attempt (a copy) on another worker, and the
-- first final result wins. The flag is no part of the content hash: it changes nothing of what runs.
ALTER TABLE "functions" ADD COLUMN "idempotent" BOOLEAN NOT NULL DEFAULT false;

-- A group (batch or map) asks for speculation: { afterFactor, minSamples }. `speculating_since` is set
-- whenever tasks join such a group and cleared by the sweep once none of them is unfinished (and a
-- while has passed, so that tasks being inserted are not missed): the sweep reads only those groups.
ALTER TABLE "task_groups" ADD COLUMN "speculation" JSONB;
ALTER TABLE "task_groups" ADD COLUMN "speculating_since" TIMESTAMPTZ(3);
CREATE INDEX "task_groups_speculating_idx" ON "task_groups"("id") WHERE "speculating_since" IS NOT NULL;

-- An archived attempt may be a speculative copy: it then shares its number with the attempt it ran
-- alongside ((task_id, number, speculative) is the key).
ALTER TABLE "task_attempts" ADD COLUMN "speculative" BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE "task_attempts" DROP CONSTRAINT "task_attempts_pkey";
ALTER TABLE "task_attempts" ADD CONSTRAINT "task_attempts_pkey" PRIMARY KEY ("task_id", "number", "speculative");

-- The copy of a task (at most one per task, ever: the primary key is what lets one replica launch it).
-- It holds its own lease (connection_id, lease_expires_at) beside the task row's: 'queued' until an
-- agent connection takes it, 'dispatched', 'running', then 'won' (its result was the task's), or
-- 'cancelled', 'failed' or 'lost' (archived in task_attempts as a speculative attempt).
-- No foreign key, like task_attempts: purging removes both.
CREATE TABLE "task_copies" (
    "task_id" UUID NOT NULL,
    "attempt" INTEGER NOT NULL,
    "endpoint_id" UUID NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'queued',
    "connection_id" TEXT,
    "lease_expires_at" TIMESTAMPTZ(3),
    "worker_id" TEXT,
    "launched_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "dispatched_at" TIMESTAMPTZ(3),
    "started_at" TIMESTAMPTZ(3),
    "ended_at" TIMESTAMPTZ(3),
    "error" JSONB,
    CONSTRAINT "task_copies_pkey" PRIMARY KEY ("task_id"),
    CONSTRAINT "task_copies_status_check" CHECK ("status" IN ('queued', 'dispatched', 'running', 'won', 'cancelled', 'failed', 'lost'))
);
-- what the sweep reads: only copies not yet ended are in it
CREATE INDEX "task_copies_active_idx" ON "task_copies"("endpoint_id") WHERE "status" IN ('queued', 'dispatched', 'running');
