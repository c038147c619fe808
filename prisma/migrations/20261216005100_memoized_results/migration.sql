-- Memoized results (issue 14). A function may be registered with a cache TTL (and, when public, as
-- shareable); a task of it (or one submitted with cache: true) carries its cache key, the scope that key
-- was made in, and the TTL its entry gets. An identical later task completes from the entry
-- (cached_from names the task that produced it); identical tasks submitted while the entry is pending
-- wait in 'received' for that one execution (single flight).
ALTER TABLE "functions" ADD COLUMN "cache_ttl_seconds" INTEGER;
ALTER TABLE "functions" ADD COLUMN "cache_shareable" BOOLEAN NOT NULL DEFAULT false;

ALTER TABLE "tasks" ADD COLUMN "cache_key" TEXT;
ALTER TABLE "tasks" ADD COLUMN "cache_scope" TEXT;
ALTER TABLE "tasks" ADD COLUMN "cache_ttl_seconds" INTEGER;
ALTER TABLE "tasks" ADD COLUMN "cached_from" UUID;
-- the followers of a key: what a filled or released entry looks up
CREATE INDEX "tasks_cache_followers_idx" ON "tasks"("cache_key") WHERE "status" = 'received';

-- One entry per key: 'pending' while its task (task_id) runs, 'ready' with the result until expires_at.
-- PostgreSQL is the truth; no foreign keys, like tasks (an entry outlives the purge of its task).
CREATE TABLE "task_cache" (
    "key" TEXT NOT NULL,
    "scope" TEXT NOT NULL,
    "content_hash" TEXT NOT NULL,
    "task_id" UUID NOT NULL,
    "state" TEXT NOT NULL,
    "result" JSONB,
    "output" JSONB,
    "ttl_seconds" INTEGER NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT now(),
    "expires_at" TIMESTAMPTZ(3),
    CONSTRAINT "task_cache_pkey" PRIMARY KEY ("key"),
    CONSTRAINT "task_cache_state_check" CHECK ("state" IN ('pending', 'ready'))
);
-- pending entries whose task ended unnoticed: what the repair sweep looks for
CREATE INDEX "task_cache_pending_idx" ON "task_cache"("task_id") WHERE "state" = 'pending';
CREATE INDEX "task_cache_scope_content_hash_idx" ON "task_cache"("scope", "content_hash");
CREATE INDEX "task_cache_expires_at_idx" ON "task_cache"("expires_at");
