-- KEYS: any number of queues. ARGV: min idle ms. Moves entries pending that long under any consumer to
-- RETURNED; returns how many, per queue. One call for every queue a sweep looks at, not one each.
--- @include "includes/names"
--- @include "includes/queue-group"
local counts = {}
for k, key in ipairs(KEYS) do
  local out = {}
  if redis.call('EXISTS', key) == 1 then
    local err = ensure_group(key)
    if err then return err end
    local start = '-'
    while true do
      local p = redis.call('XPENDING', key, GROUP, 'IDLE', ARGV[1], start, '+', 1000)
      if #p == 0 then break end
      local ids = {}
      for _, e in ipairs(p) do
        if e[2] ~= RETURNED then ids[#ids + 1] = e[1] end
      end
      if #ids > 0 then claim_into(key, RETURNED, ARGV[1], ids, out) end
      start = '(' .. p[#p][1]
    end
  end
  counts[k] = #out
end
return counts
