-- Endpoint groups (issue 16): a name that stands for several endpoints wherever an endpoint is named.
-- A task sent to a group is stored with the group in `endpoint_group_id` and the member chosen for it in
-- `endpoint_id`, so every per-endpoint path (queue, lease, dispatch, cancel) works unchanged; a waiting
-- task may later move to another member (endpoint-routing.service.ts).
CREATE TABLE "endpoint_groups" (
    "id" UUID NOT NULL,
    "owner_id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "deleted_at" TIMESTAMPTZ(3),
    CONSTRAINT "endpoint_groups_pkey" PRIMARY KEY ("id")
);
-- names are unique per owner among live groups
CREATE UNIQUE INDEX "endpoint_groups_owner_id_name_live_key" ON "endpoint_groups"("owner_id", "name") WHERE "deleted_at" IS NULL;

-- A member is `active` (its endpoint's owner is the group's owner, or accepted) or `invited` (another
-- user's endpoint, until its owner accepts). Removed members are deleted: nothing refers to them.
CREATE TABLE "endpoint_group_members" (
    "group_id" UUID NOT NULL,
    "endpoint_id" UUID NOT NULL,
    "state" TEXT NOT NULL,
    "added_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "endpoint_group_members_pkey" PRIMARY KEY ("group_id", "endpoint_id"),
    CONSTRAINT "endpoint_group_members_group_id_fkey" FOREIGN KEY ("group_id") REFERENCES "endpoint_groups"("id") ON DELETE CASCADE
);
CREATE INDEX "endpoint_group_members_endpoint_id_idx" ON "endpoint_group_members"("endpoint_id");

ALTER TABLE "tasks" ADD COLUMN "endpoint_group_id" UUID;
-- the tasks that may still move between members: few, and found by the group's members
CREATE INDEX "tasks_grouped_waiting_idx" ON "tasks"("endpoint_id") WHERE "endpoint_group_id" IS NOT NULL AND "status" = 'waiting-for-endpoint';
