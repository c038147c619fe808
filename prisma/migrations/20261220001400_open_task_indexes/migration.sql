-- Fewer index entries per task row (issue 14: a batch that is mostly memoized hits; issue 18: every
-- statement that writes tasks). Every change of a task's state writes a new row version, and each
-- version gets an entry in every index whose predicate it meets, so an index pays per state change.
--
-- (endpoint_id, status) over every task: its every reader asks for open tasks of an endpoint, and
-- tasks_open_endpoint_status_idx (20261219003500_metrics) holds the same keys for open tasks only.
DROP INDEX IF EXISTS "tasks_endpoint_id_status_idx";
-- (status, lease_expires_at): read only for open states (lease sweeps, the queue rebuild, the queue
-- TTL, waiting dependents, stranded followers); a task completed at insert (a cache hit) and every
-- final row version stay out of it.
DROP INDEX IF EXISTS "tasks_status_lease_expires_at_idx";
CREATE INDEX "tasks_open_status_lease_expires_at_idx" ON "tasks" ("status", "lease_expires_at") WHERE "status" NOT IN ('success', 'failed', 'cancelled');
-- completed_at: read only with a bound on it (retention, the console's throughput), which implies
-- NOT NULL; open row versions stay out of it.
DROP INDEX IF EXISTS "tasks_completed_at_idx";
CREATE INDEX "tasks_completed_at_idx" ON "tasks" ("completed_at") WHERE "completed_at" IS NOT NULL;
