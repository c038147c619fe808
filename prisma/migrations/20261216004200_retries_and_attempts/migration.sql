-- Retries and attempts (issue 14). A function may carry a default retry policy, and a task the policy
-- it runs under (its own, or its function's at submission). `retries` counts the attempts that failed
-- and were run again; `attempt` now counts every requeue (lost leases and retries), so lost leases are
-- `attempt - retries` (what FX_MAX_ATTEMPTS bounds). A retried task waits in the new state
-- 'waiting-for-retry' until `retry_at`, which a sweep on any replica honours, so a backoff survives a
-- restart.
ALTER TABLE "functions" ADD COLUMN "retry" JSONB;

ALTER TABLE "tasks" DROP CONSTRAINT IF EXISTS "tasks_status_check";
ALTER TABLE "tasks" ADD CONSTRAINT "tasks_status_check" CHECK ("status" IN ('received', 'waiting-for-dependencies', 'waiting-for-endpoint', 'waiting-for-retry', 'dispatched', 'running', 'success', 'failed', 'cancelled'));
ALTER TABLE "tasks" ADD COLUMN "retry" JSONB;
ALTER TABLE "tasks" ADD COLUMN "retries" INTEGER NOT NULL DEFAULT 0;
ALTER TABLE "tasks" ADD COLUMN "retry_at" TIMESTAMPTZ(3);
-- what the retry sweep reads: only tasks in backoff are in it
CREATE INDEX "tasks_retry_at_idx" ON "tasks"("retry_at") WHERE "status" = 'waiting-for-retry';

-- Every attempt that ended without ending its task (lost its lease, or failed and was retried), as it
-- was: the task row then starts the next attempt afresh. The task's current (or final) attempt is the
-- task row itself. No foreign key, like task_dependencies: purging removes both.
CREATE TABLE "task_attempts" (
    "task_id" UUID NOT NULL,
    "number" INTEGER NOT NULL,
    "status" TEXT NOT NULL,
    "endpoint_id" UUID NOT NULL,
    "connection_id" TEXT,
    "worker_id" TEXT,
    "queued_at" TIMESTAMPTZ(3),
    "dispatched_at" TIMESTAMPTZ(3),
    "started_at" TIMESTAMPTZ(3),
    "ended_at" TIMESTAMPTZ(3) NOT NULL,
    "error" JSONB,
    "retry_at" TIMESTAMPTZ(3),
    CONSTRAINT "task_attempts_pkey" PRIMARY KEY ("task_id", "number")
);
