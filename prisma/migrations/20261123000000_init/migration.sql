-- FX initial schema. Written by hand (Prisma's schema engine cannot be downloaded offline); it matches
-- prisma/schema.prisma. Task status is text with a CHECK so that the values can carry hyphens.

CREATE TABLE "users" (
    "id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "admin" BOOLEAN NOT NULL DEFAULT false,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "users_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX "users_name_key" ON "users"("name");

CREATE TABLE "endpoints" (
    "id" UUID NOT NULL,
    "owner_id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "description" TEXT,
    "allowed_functions" UUID[] NOT NULL DEFAULT ARRAY[]::UUID[],
    "restricted" BOOLEAN NOT NULL DEFAULT false,
    "connected_at" TIMESTAMPTZ(3),
    "disconnected_at" TIMESTAMPTZ(3),
    "last_heartbeat_at" TIMESTAMPTZ(3),
    "agent" JSONB,
    "status" JSONB,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "deleted_at" TIMESTAMPTZ(3),
    CONSTRAINT "endpoints_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "endpoints_owner_id_fkey" FOREIGN KEY ("owner_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE INDEX "endpoints_owner_id_idx" ON "endpoints"("owner_id");

CREATE TABLE "tokens" (
    "id" UUID NOT NULL,
    "user_id" UUID NOT NULL,
    "endpoint_id" UUID,
    "kind" TEXT NOT NULL CHECK ("kind" IN ('user', 'endpoint')),
    "name" TEXT NOT NULL,
    "hash" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expires_at" TIMESTAMPTZ(3),
    "revoked_at" TIMESTAMPTZ(3),
    CONSTRAINT "tokens_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "tokens_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE,
    CONSTRAINT "tokens_endpoint_id_fkey" FOREIGN KEY ("endpoint_id") REFERENCES "endpoints"("id") ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE UNIQUE INDEX "tokens_hash_key" ON "tokens"("hash");
CREATE INDEX "tokens_user_id_idx" ON "tokens"("user_id");

CREATE TABLE "functions" (
    "id" UUID NOT NULL,
    "owner_id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "runtime" TEXT NOT NULL CHECK ("runtime" IN ('js', 'shell')),
    "source" TEXT NOT NULL,
    "description" TEXT,
    "walltime_seconds" DOUBLE PRECISION,
    "public" BOOLEAN NOT NULL DEFAULT false,
    "content_hash" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "deleted_at" TIMESTAMPTZ(3),
    CONSTRAINT "functions_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "functions_owner_id_fkey" FOREIGN KEY ("owner_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE INDEX "functions_owner_id_idx" ON "functions"("owner_id");

-- No foreign keys on tasks: batches of 10,000 rows are inserted in one statement, and tasks outlive
-- soft-deleted functions and endpoints until they are purged.
CREATE TABLE "tasks" (
    "id" UUID NOT NULL,
    "owner_id" UUID NOT NULL,
    "function_id" UUID NOT NULL,
    "endpoint_id" UUID NOT NULL,
    "batch_id" UUID,
    "status" TEXT NOT NULL CHECK ("status" IN ('received', 'waiting-for-endpoint', 'dispatched', 'running', 'success', 'failed', 'cancelled')),
    "attempt" INTEGER NOT NULL DEFAULT 0,
    "args" JSONB NOT NULL,
    "kwargs" JSONB NOT NULL,
    "result" JSONB,
    "error" JSONB,
    "timings" JSONB,
    "lease_owner" TEXT,
    "lease_expires_at" TIMESTAMPTZ(3),
    "received_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "waiting_at" TIMESTAMPTZ(3),
    "dispatched_at" TIMESTAMPTZ(3),
    "running_at" TIMESTAMPTZ(3),
    "completed_at" TIMESTAMPTZ(3),
    CONSTRAINT "tasks_pkey" PRIMARY KEY ("id")
);
CREATE INDEX "tasks_endpoint_id_status_idx" ON "tasks"("endpoint_id", "status");
CREATE INDEX "tasks_batch_id_idx" ON "tasks"("batch_id");
CREATE INDEX "tasks_owner_id_received_at_idx" ON "tasks"("owner_id", "received_at");
CREATE INDEX "tasks_status_lease_expires_at_idx" ON "tasks"("status", "lease_expires_at");
CREATE INDEX "tasks_completed_at_idx" ON "tasks"("completed_at");
