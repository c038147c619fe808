-- KEYS: q, idx. ARGV: task ids. Returns how many were added.
--- @include "includes/names"
--- @include "includes/queue-group"
local err = ensure_group(KEYS[1])
if err then return err end
local added = 0
for i = 1, #ARGV do
  local known = redis.call('HGET', KEYS[2], ARGV[i])
  -- a stale index entry (its stream entry gone, say after a partial eviction) must not hide the id
  if not known or #redis.call('XRANGE', KEYS[1], known, known) == 0 then
    local eid = redis.call('XADD', KEYS[1], '*', 't', ARGV[i])
    redis.call('HSET', KEYS[2], ARGV[i], eid)
    added = added + 1
  end
end
return added
