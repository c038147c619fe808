-- Task priorities (issue 14): 0–9, higher goes first within an endpoint's queue. Stored so that a
-- rebuild of the broker's queues from PostgreSQL (recovery) orders them as they were submitted; rows
-- from before this migration get the default.
ALTER TABLE "tasks" ADD COLUMN "priority" SMALLINT NOT NULL DEFAULT 5;
ALTER TABLE "tasks" ADD CONSTRAINT "tasks_priority_check" CHECK ("priority" BETWEEN 0 AND 9);
