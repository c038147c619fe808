-- A named output that another user's endpoint (a member of the owner's endpoint group) stored for her
-- task is hers, but that endpoint chose its name and bytes: such an object fires her triggers only where
-- the trigger says `from_members`. `foreign_endpoint_id` names that endpoint (NULL: stored by the owner
-- or one of her own endpoints).
ALTER TABLE "objects" ADD COLUMN "foreign_endpoint_id" UUID;
ALTER TABLE "triggers" ADD COLUMN "from_members" BOOLEAN NOT NULL DEFAULT false;
