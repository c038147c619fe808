-- The quota on empty task groups (FX_GROUP_QUOTA): a group made empty by POST /v1/groups is `awaiting`
-- until it holds a task; a user may have at most FX_GROUP_QUOTA of those. A batch's own group is made
-- with its tasks and never awaits. The quota's check (GroupsRepository.createEmpty, under the owner's
-- lock) clears the flag of the owner's groups that hold tasks by now, then counts the rest: the
-- flagged rows of one owner stay within the quota, and so does the check's cost.
ALTER TABLE "task_groups" ADD COLUMN "awaiting" BOOLEAN NOT NULL DEFAULT false;
CREATE INDEX "task_groups_awaiting_idx" ON "task_groups"("owner_id") WHERE "awaiting";
