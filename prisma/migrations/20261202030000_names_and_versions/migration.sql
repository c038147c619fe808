-- Names wherever ids are taken (issue 11 item 9).
--
-- Functions get versions: registering a name again with different content adds a row with the next
-- version, so a task keeps pointing at the exact row it ran. Versions are numbered over every row of a
-- (owner, name), deleted ones included, so `name@2` never comes to mean another function.
ALTER TABLE "functions" ADD COLUMN "version" INTEGER NOT NULL DEFAULT 1;
UPDATE "functions" f SET "version" = v.n
  FROM (SELECT "id", row_number() OVER (PARTITION BY "owner_id", "name" ORDER BY "created_at", "id") AS n FROM "functions") v
 WHERE f."id" = v."id" AND v.n <> 1;
CREATE UNIQUE INDEX "functions_owner_id_name_version_key" ON "functions"("owner_id", "name", "version");

-- Endpoint names are unique per owner among live endpoints. Earlier servers allowed duplicates: every
-- live duplicate but the oldest is renamed `<name>-<first 8 hex of its id>` (cut to stay within 128
-- characters) rather than refusing to start; the id, token and tasks of each endpoint are untouched.
UPDATE "endpoints" e SET "name" = left(d."name", 119) || '-' || left(d."id"::text, 8)
  FROM (SELECT "id", "name", row_number() OVER (PARTITION BY "owner_id", "name" ORDER BY "created_at", "id") AS n
          FROM "endpoints" WHERE "deleted_at" IS NULL) d
 WHERE e."id" = d."id" AND d.n > 1;
CREATE UNIQUE INDEX "endpoints_owner_id_name_live_key" ON "endpoints"("owner_id", "name") WHERE "deleted_at" IS NULL;
