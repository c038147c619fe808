-- Python functions (issue 13). A python function names the function of its source that a task calls;
-- a shell function may fail on a non-zero exit. Both are part of the content hash, which stays the same
-- for rows without them. A task keeps what it printed (python; a failed shell task) beside its result.
ALTER TABLE "functions" DROP CONSTRAINT IF EXISTS "functions_runtime_check";
ALTER TABLE "functions" ADD CONSTRAINT "functions_runtime_check" CHECK ("runtime" IN ('js', 'shell', 'mpi', 'python'));
ALTER TABLE "functions" ADD COLUMN "entrypoint" TEXT;
ALTER TABLE "functions" ADD COLUMN "fail_on_non_zero_exit" BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE "tasks" ADD COLUMN "output" JSONB;
