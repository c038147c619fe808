-- Accounting (issue 17; AttemptUsage and BlockReport in libs/protocol/src/usage.ts).
-- One row per attempt an agent reported a result for, written in the results' group commit. Kept apart
-- from tasks (no relations) so that usage outlives the purge of its task; owner, endpoint and function are
-- copied in so GET /v1/usage never joins tasks.
CREATE TABLE "usage_records" (
    "task_id" UUID NOT NULL,
    "attempt" INTEGER NOT NULL,
    "speculative" BOOLEAN NOT NULL DEFAULT false,
    "owner_id" UUID NOT NULL,
    "endpoint_id" UUID NOT NULL,
    "function_id" UUID NOT NULL,
    "status" TEXT NOT NULL,
    "ended_at" TIMESTAMPTZ(3) NOT NULL,
    "wall_ms" BIGINT NOT NULL,
    "cores" INTEGER NOT NULL,
    "gpus" INTEGER NOT NULL,
    "cpu_ms" BIGINT,
    "max_rss_bytes" BIGINT,
    "block_id" TEXT,
    CONSTRAINT "usage_records_pkey" PRIMARY KEY ("task_id", "attempt", "speculative")
);
CREATE INDEX "usage_records_ended_at_idx" ON "usage_records" ("ended_at");
CREATE INDEX "usage_records_owner_id_ended_at_idx" ON "usage_records" ("owner_id", "ended_at");

-- Pilot blocks as their agent accounts for them (heartbeats upsert by endpoint and block):
-- busy_ms + idle_ms = (ended_at ?? last report) − started_at; node-ms = nodes × that.
CREATE TABLE "endpoint_blocks" (
    "endpoint_id" UUID NOT NULL,
    "block_id" TEXT NOT NULL,
    "job_id" TEXT,
    "state" TEXT NOT NULL,
    "nodes" INTEGER NOT NULL,
    "started_at" TIMESTAMPTZ(3),
    "ended_at" TIMESTAMPTZ(3),
    "busy_ms" BIGINT NOT NULL DEFAULT 0,
    "idle_ms" BIGINT NOT NULL DEFAULT 0,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT now(),
    CONSTRAINT "endpoint_blocks_pkey" PRIMARY KEY ("endpoint_id", "block_id")
);
CREATE INDEX "endpoint_blocks_started_at_idx" ON "endpoint_blocks" ("started_at");
