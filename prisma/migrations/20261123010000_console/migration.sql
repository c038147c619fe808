-- Admin console: endpoints can be locked (they refuse new tasks), and the tasks list is keyset-paged
-- newest first across all owners (admins), which the (owner_id, received_at) index does not serve.

ALTER TABLE "endpoints" ADD COLUMN "locked_at" TIMESTAMPTZ(3);

CREATE INDEX "tasks_received_at_id_idx" ON "tasks"("received_at", "id");
