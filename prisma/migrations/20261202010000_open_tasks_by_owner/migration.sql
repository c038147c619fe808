-- The per-user quota of unfinished tasks (FX_MAX_QUEUED_TASKS_PER_USER) counts a user's open tasks on
-- submit: this partial index keeps that count to the open rows, however many finished ones a user has.
CREATE INDEX IF NOT EXISTS "tasks_open_by_owner_idx" ON "tasks" ("owner_id") WHERE "status" NOT IN ('success', 'failed', 'cancelled');
