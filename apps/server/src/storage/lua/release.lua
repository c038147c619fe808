-- KEYS: q. ARGV: consumer. Moves the consumer's pending entries to RETURNED; returns their task ids.
--- @include "includes/names"
--- @include "includes/queue-group"
if redis.call('EXISTS', KEYS[1]) == 0 then return {} end
local err = ensure_group(KEYS[1])
if err then return err end
local out = {}
local start = '-'
while true do
  local p = redis.call('XPENDING', KEYS[1], GROUP, start, '+', 1000, ARGV[1])
  if #p == 0 then break end
  local ids = {}
  for i, e in ipairs(p) do ids[i] = e[1] end
  claim_into(KEYS[1], RETURNED, 0, ids, out)
  start = '(' .. p[#p][1]
end
if ARGV[1] ~= RETURNED then redis.call('XGROUP', 'DELCONSUMER', KEYS[1], GROUP, ARGV[1]) end
return out
