-- Live streams from running tasks (issue 16). The task keeps its latest progress values (a jsonb array
-- of ProgressEvent, oldest first, at most KEPT_PROGRESS, all of attempt `progress_attempt`) and how many
-- were emitted in that attempt; what it printed goes to task_logs, bounded per task by FX_MAX_TASK_LOG_BYTES
-- (`log_bytes` counts what is stored, `logs_truncated` says text was dropped, by the agent or here).
ALTER TABLE "tasks" ADD COLUMN "progress" JSONB;
ALTER TABLE "tasks" ADD COLUMN "progress_attempt" INTEGER;
ALTER TABLE "tasks" ADD COLUMN "progress_emitted" INTEGER NOT NULL DEFAULT 0;
ALTER TABLE "tasks" ADD COLUMN "log_bytes" INTEGER NOT NULL DEFAULT 0;
ALTER TABLE "tasks" ADD COLUMN "logs_truncated" BOOLEAN NOT NULL DEFAULT false;

-- One row per log chunk; seq orders the chunks of one attempt across stdout and stderr. No relations,
-- like the other tables beside tasks: the purge of a task removes its chunks in the same statement.
CREATE TABLE "task_logs" (
    "task_id" UUID NOT NULL,
    "attempt" INTEGER NOT NULL,
    "seq" INTEGER NOT NULL,
    "stream" TEXT NOT NULL,
    "at" TIMESTAMPTZ(3) NOT NULL,
    "chunk" TEXT NOT NULL,
    CONSTRAINT "task_logs_pkey" PRIMARY KEY ("task_id", "attempt", "seq")
);

-- shell functions: a stdout line starting with this is progress, not a log line
ALTER TABLE "functions" ADD COLUMN "progress_prefix" TEXT;
