-- KEYS: (q, pl) pairs of any number of queues. ARGV: min idle ms. Puts entries pending that long under
-- any consumer back in their queues; returns how many, per queue. One call for every queue a sweep
-- looks at, not one each.
--- @include "includes/fair-queue"
local cutoff = now_ms() - tonumber(ARGV[1])
local counts = {}
for k = 1, #KEYS, 2 do
  local all = redis.call('HGETALL', KEYS[k + 1])
  local stale = {}
  for i = 1, #all, 2 do
    local _, at, score = parse_pending(all[i + 1])
    if at and at <= cutoff then stale[#stale + 1] = { all[i], score } end
  end
  counts[#counts + 1] = #put_back(KEYS[k], KEYS[k + 1], stale)
end
return counts
