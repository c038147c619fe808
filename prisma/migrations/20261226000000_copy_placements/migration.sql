-- A speculative copy that a member refused before it ran (its agent runs only its owner's tasks now:
-- ISOLATION_REQUIRED) may be placed again, on another member. `placement` counts the placements of a
-- task's copy (0 for the first), bounded by the sweep; `refused_by` lists the members that refused it,
-- which are not asked again. Each placement that ended leaves its own attempt record, so the number
-- the copies share with the attempt they ran alongside is no longer enough of a key.
ALTER TABLE "task_copies" ADD COLUMN "placement" INTEGER NOT NULL DEFAULT 0;
ALTER TABLE "task_copies" ADD COLUMN "refused_by" UUID[] NOT NULL DEFAULT '{}';
ALTER TABLE "task_attempts" ADD COLUMN "placement" INTEGER NOT NULL DEFAULT 0;
ALTER TABLE "task_attempts" DROP CONSTRAINT "task_attempts_pkey";
ALTER TABLE "task_attempts" ADD CONSTRAINT "task_attempts_pkey" PRIMARY KEY ("task_id", "number", "speculative", "placement");

-- The refused copies the sweep may place again: first placements (MAX_COPY_PLACEMENTS is 2; the sweep
-- sets `placement` to it for those it gives up on, so they leave the index).
CREATE INDEX "task_copies_refused_idx" ON "task_copies"("task_id")
  WHERE "status" = 'cancelled' AND "dispatched_at" IS NULL AND ("error"->>'code') = 'ISOLATION_REQUIRED' AND "placement" < 1;
