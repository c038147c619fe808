-- Whether a task may have dependents (issue 18: the plain path). Set by the submission that records an
-- edge to it while it is not final (in the same statement as the edge), never cleared; returned by the
-- statement that records its result, so that a task without it skips the lookup of its dependents. A
-- constant default adds the column without rewriting the table (PostgreSQL 11 and later), and it is in
-- no index, so setting it (and every later update of the row) stays a HOT update.
ALTER TABLE "tasks" ADD COLUMN "has_dependents" BOOLEAN NOT NULL DEFAULT false;
