-- A completed upload keeps its row, naming the object it became, until the upload's own expiry: a
-- `complete` repeated because its answer was lost (the server died after the commit, the connection
-- dropped) answers with that object instead of 404, so an agent storing a task's result never fails the
-- task over a lost answer. Completed rows hold no bytes and count neither against the quota nor as open.
ALTER TABLE "object_uploads" ADD COLUMN "object_id" UUID;
