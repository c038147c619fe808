-- KEYS: q. ARGV: consumer, max. Returns task ids, returned ones first.
--- @include "includes/names"
--- @include "includes/queue-group"
if redis.call('EXISTS', KEYS[1]) == 0 then return {} end
local err = ensure_group(KEYS[1])
if err then return err end
local max = tonumber(ARGV[2])
local out = {}
local back = redis.call('XPENDING', KEYS[1], GROUP, '-', '+', max, RETURNED)
if #back > 0 then
  local ids = {}
  for i, p in ipairs(back) do ids[i] = p[1] end
  claim_into(KEYS[1], ARGV[1], 0, ids, out)
end
if #out < max then
  local r = redis.call('XREADGROUP', 'GROUP', GROUP, ARGV[1], 'COUNT', max - #out, 'STREAMS', KEYS[1], '>')
  if r then
    for _, e in ipairs(r[1][2]) do out[#out + 1] = e[2][2] end
  end
end
return out
