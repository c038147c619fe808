-- A speculative copy may also be refused before it ran by its agent's intake, through a failed result
-- (the endpoint's allow-list: FUNCTION_NOT_ALLOWED; the function's content hash: CONTENT_HASH_MISMATCH;
-- another user's task on an agent that runs only its owner's: ISOLATION_REQUIRED), after it was
-- dispatched. Such a copy is placed again like one refused at its grant, so the index of the refused
-- copies the sweep may place again takes these codes and no longer asks for a copy never dispatched
-- (copy-sql.ts REFUSED is its predicate, word for word).
DROP INDEX "task_copies_refused_idx";
CREATE INDEX "task_copies_refused_idx" ON "task_copies"("task_id")
  WHERE "status" = 'cancelled' AND ("error"->>'code') IN ('ISOLATION_REQUIRED', 'FUNCTION_NOT_ALLOWED', 'CONTENT_HASH_MISMATCH') AND "placement" < 1;
