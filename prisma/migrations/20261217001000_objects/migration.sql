-- Objects: immutable data by reference (issue 15). No foreign keys, like tasks: PostgreSQL is the truth,
-- and the garbage collector (modules/objects/objects-gc.service.ts) removes rows in the order it needs.

-- An object: an owner's name (optional) for immutable bytes, the blob of its sha256. A deleted object
-- (deleted_at) or an expired one (expires_at) is collected once no task that can still run refers to it
-- and no retained task has it as its result (tasks.result_ref).
CREATE TABLE "objects" (
    "id" UUID NOT NULL,
    "owner_id" UUID NOT NULL,
    "name" TEXT,
    "encoding" TEXT NOT NULL DEFAULT 'bytes',
    "sha256" TEXT NOT NULL,
    "size" BIGINT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expires_at" TIMESTAMPTZ(3),
    "deleted_at" TIMESTAMPTZ(3),
    -- set when the object holds that task's result or one of its named outputs
    "task_id" UUID,
    CONSTRAINT "objects_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "objects_encoding_check" CHECK ("encoding" IN ('bytes', 'json')),
    CONSTRAINT "objects_size_check" CHECK ("size" >= 0)
);
-- a name is unique among its owner's live objects: putting it again moves it (the old object is deleted)
CREATE UNIQUE INDEX "objects_owner_id_name_key" ON "objects"("owner_id", "name") WHERE "name" IS NOT NULL AND "deleted_at" IS NULL;
-- listing (newest first, keyset-paged) and the quota's sum
CREATE INDEX "objects_owner_id_created_at_id_idx" ON "objects"("owner_id", "created_at", "id") WHERE "deleted_at" IS NULL;
-- which blobs are still pointed at
CREATE INDEX "objects_sha256_idx" ON "objects"("sha256");
-- what the collector looks at
CREATE INDEX "objects_expires_at_idx" ON "objects"("expires_at") WHERE "expires_at" IS NOT NULL;
CREATE INDEX "objects_deleted_at_idx" ON "objects"("deleted_at") WHERE "deleted_at" IS NOT NULL;

-- One row per blob in the store (content addressed: one per sha256). The row is the lock that keeps
-- the collector from deleting a blob that an upload completing at the same moment points a new object at.
CREATE TABLE "object_blobs" (
    "sha256" TEXT NOT NULL,
    "size" BIGINT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "object_blobs_pkey" PRIMARY KEY ("sha256")
);

-- A resumable upload: its bytes so far are in a temp file of the object store (uploads/<id>), and
-- offset_bytes says how many of them are good. writer/writer_until: the request writing to it now (one
-- at a time, on whichever replica), until when unless it says it is still alive.
CREATE TABLE "object_uploads" (
    "id" UUID NOT NULL,
    "owner_id" UUID NOT NULL,
    "task_id" UUID,
    "name" TEXT,
    "encoding" TEXT NOT NULL DEFAULT 'bytes',
    "ttl_seconds" INTEGER,
    "size" BIGINT,
    "sha256" TEXT,
    "offset_bytes" BIGINT NOT NULL DEFAULT 0,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,
    "writer" UUID,
    "writer_until" TIMESTAMPTZ(3),
    CONSTRAINT "object_uploads_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "object_uploads_encoding_check" CHECK ("encoding" IN ('bytes', 'json'))
);
CREATE INDEX "object_uploads_owner_id_idx" ON "object_uploads"("owner_id");
CREATE INDEX "object_uploads_expires_at_idx" ON "object_uploads"("expires_at");

-- Which tasks refer to which objects (their arguments, or an input's result): what lets a task's
-- endpoint fetch an object, and what keeps an object from being collected while the task can run.
CREATE TABLE "task_objects" (
    "task_id" UUID NOT NULL,
    "object_id" UUID NOT NULL,
    CONSTRAINT "task_objects_pkey" PRIMARY KEY ("task_id", "object_id")
);
CREATE INDEX "task_objects_object_id_idx" ON "task_objects"("object_id");

-- A task's result stored as an object (an ObjectRef, in place of `result`), and the name its result is
-- stored under (a trigger's output).
ALTER TABLE "tasks" ADD COLUMN "result_ref" JSONB;
ALTER TABLE "tasks" ADD COLUMN "output_name" TEXT;
CREATE INDEX "tasks_result_ref_id_idx" ON "tasks"((("result_ref" ->> 'id')::uuid)) WHERE "result_ref" IS NOT NULL;
