-- A task's speculative copy (task_copies) may store the task's result and named outputs, from the
-- member it runs on, beside its original attempt. Which of the two opened an upload (and so made its
-- object) is kept: a member's cap counts the copy's uploads apart from the original's, and a result is
-- accepted only as an object its own run stored (a copy's result only if the copy wins).
ALTER TABLE "object_uploads" ADD COLUMN IF NOT EXISTS "speculative" BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE "objects" ADD COLUMN IF NOT EXISTS "speculative" BOOLEAN NOT NULL DEFAULT false;
