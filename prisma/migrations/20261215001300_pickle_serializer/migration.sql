-- Opt-in pickle serializer for python tasks (issue 13). A pickle task keeps its (args, kwargs) as one
-- pickled value (base64 in a tagged JSON object) beside empty args and kwargs; its result is stored as
-- JSON like any other, a tagged object that the Python SDK unpickles. The serializer is a column of its
-- own so that reading results never has to look into pickled_args.
ALTER TABLE "tasks" ADD COLUMN "serializer" TEXT NOT NULL DEFAULT 'json';
ALTER TABLE "tasks" ADD CONSTRAINT "tasks_serializer_check" CHECK ("serializer" IN ('json', 'pickle'));
ALTER TABLE "tasks" ADD COLUMN "pickled_args" JSONB;
