-- The consumer group of every queue stream, and the reserved consumer that holds released and
-- reclaimed entries until they are claimed again (layout: broker.redis.ts).
local GROUP = 'g'
local RETURNED = 'fx:returned'
