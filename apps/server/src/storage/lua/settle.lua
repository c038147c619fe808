-- KEYS: q, idx. ARGV: task ids. Only pending (claimed) ids are settled; returns how many.
--- @include "includes/names"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local n = 0
for i = 1, #ARGV do
  local eid = redis.call('HGET', KEYS[2], ARGV[i])
  if eid then
    local acked = redis.pcall('XACK', KEYS[1], GROUP, eid)
    if acked == 1 then
      redis.call('XDEL', KEYS[1], eid)
      redis.call('HDEL', KEYS[2], ARGV[i])
      n = n + 1
    end
  end
end
return n
