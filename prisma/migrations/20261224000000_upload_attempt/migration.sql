-- The attempt of its task that opened an upload for the task's output: another user's member may open
-- only so many per task it holds, and only the current attempt's count (a task retried or requeued after
-- a lost lease owes nothing for its earlier attempts' uploads). Rows from before have none and count for
-- no attempt; they expire within FX_UPLOAD_TTL_SECONDS.
ALTER TABLE "object_uploads" ADD COLUMN IF NOT EXISTS "attempt" INTEGER;
