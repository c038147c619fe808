-- The uploads opened for one task's outputs are counted when another user's endpoint (a member of the
-- task owner's endpoint group) opens one more: it may store only so many objects for a task it holds.
CREATE INDEX IF NOT EXISTS "object_uploads_task_idx" ON "object_uploads"("task_id") WHERE "task_id" IS NOT NULL;
