-- KEYS: q, pl. ARGV: consumer. Puts the consumer's pending entries back in the queue where they were;
-- returns their task ids in queue order.
--- @include "includes/fair-queue"
local all = redis.call('HGETALL', KEYS[2])
local mine = {}
for i = 1, #all, 2 do
  local consumer, _, score = parse_pending(all[i + 1])
  if consumer == ARGV[1] then mine[#mine + 1] = { all[i], score } end
end
return put_back(KEYS[1], KEYS[2], mine)
