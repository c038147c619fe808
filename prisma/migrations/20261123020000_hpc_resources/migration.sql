-- HPC providers: MPI functions (a third runtime) and per-task resource requests
-- ({ cores, gpus, walltimeSeconds, nodes, ranksPerNode }) that travel with the task to the agent.

ALTER TABLE "functions" DROP CONSTRAINT IF EXISTS "functions_runtime_check";
ALTER TABLE "functions" ADD CONSTRAINT "functions_runtime_check" CHECK ("runtime" IN ('js', 'shell', 'mpi'));

ALTER TABLE "tasks" ADD COLUMN "resources" JSONB;
