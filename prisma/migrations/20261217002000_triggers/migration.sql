-- Triggers (issue 15): an object its owner puts with a name under `prefix` runs `function_id` on
-- `endpoint_id` with the object's reference. A firing row per (trigger, object) records that it ran;
-- the task's id is derived from the pair (trigger-rules.ts), so a firing repeated after a crash finds
-- the first one's task and adds nothing. No foreign keys to tasks or objects, like tasks themselves:
-- the objects' collector removes a collected object's firings.
CREATE TABLE "triggers" (
    "id" UUID NOT NULL,
    "owner_id" UUID NOT NULL,
    "prefix" TEXT NOT NULL,
    "function_id" UUID NOT NULL,
    "endpoint_id" UUID NOT NULL,
    "output_prefix" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "deleted_at" TIMESTAMPTZ(3),
    -- every object put before this (less a grace for commits that lag their timestamps) has fired:
    -- the sweep looks only at what came after, not at all the objects ever put under the prefix
    "swept_until" TIMESTAMPTZ(3),
    CONSTRAINT "triggers_pkey" PRIMARY KEY ("id")
);
CREATE INDEX "triggers_owner_id_idx" ON "triggers"("owner_id") WHERE "deleted_at" IS NULL;

CREATE TABLE "trigger_firings" (
    "trigger_id" UUID NOT NULL,
    "object_id" UUID NOT NULL,
    -- null when the task could not be made (its function or endpoint gone): `error` says why
    "task_id" UUID,
    "error" TEXT,
    "fired_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "trigger_firings_pkey" PRIMARY KEY ("trigger_id", "object_id")
);
CREATE INDEX "trigger_firings_object_id_idx" ON "trigger_firings"("object_id");

-- the sweep's read: an owner's named live objects put after a point in time
CREATE INDEX "objects_owner_id_created_at_idx" ON "objects"("owner_id", "created_at") WHERE "name" IS NOT NULL AND "deleted_at" IS NULL;
