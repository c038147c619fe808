-- Futures as arguments (issue 14): a task may refer to other tasks' results. It waits in the new state
-- 'waiting-for-dependencies' until every input has succeeded, then moves to 'waiting-for-endpoint'
-- (ready_at records when). The edges live here, one row per (dependent, input). Like tasks, no foreign
-- keys: a graph of 10,000 tasks goes in with its edges in one statement, and purging removes both.
ALTER TABLE "tasks" DROP CONSTRAINT IF EXISTS "tasks_status_check";
ALTER TABLE "tasks" ADD CONSTRAINT "tasks_status_check" CHECK ("status" IN ('received', 'waiting-for-dependencies', 'waiting-for-endpoint', 'dispatched', 'running', 'success', 'failed', 'cancelled'));
ALTER TABLE "tasks" ADD COLUMN "ready_at" TIMESTAMPTZ(3);

CREATE TABLE "task_dependencies" (
    "task_id" UUID NOT NULL,
    "input_id" UUID NOT NULL,
    CONSTRAINT "task_dependencies_pkey" PRIMARY KEY ("task_id", "input_id")
);
-- from an input to its dependents: what recording a result looks up
CREATE INDEX "task_dependencies_input_id_idx" ON "task_dependencies"("input_id");
