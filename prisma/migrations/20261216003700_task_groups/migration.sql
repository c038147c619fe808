-- Task groups (issue 14): a batch, a graph or a map is a group a client can re-attach to. Its tasks
-- carry its id in tasks.batch_id (a batch's id has always been its group's); the row here says whose
-- group it is, so that an empty group (a map not started yet) is owner-checked too. No foreign keys,
-- like tasks: a group and its tasks are written by one submission each.
CREATE TABLE "task_groups" (
    "id" UUID NOT NULL,
    "owner_id" UUID NOT NULL,
    "kind" TEXT NOT NULL DEFAULT 'batch',
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "task_groups_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "task_groups_kind_check" CHECK ("kind" IN ('batch', 'map'))
);
CREATE INDEX "task_groups_created_at_idx" ON "task_groups"("created_at");

-- the batches made before groups existed become groups of their owner
INSERT INTO "task_groups" ("id", "owner_id", "kind", "created_at")
SELECT "batch_id", (array_agg("owner_id"))[1], 'batch', min("received_at") FROM "tasks" WHERE "batch_id" IS NOT NULL GROUP BY "batch_id";

-- a group's tasks are listed oldest first, a keyset page at a time
DROP INDEX IF EXISTS "tasks_batch_id_idx";
CREATE INDEX "tasks_batch_id_received_at_id_idx" ON "tasks"("batch_id", "received_at", "id");
