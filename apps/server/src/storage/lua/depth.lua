-- KEYS: q. Undelivered entries plus returned ones: everything claimable.
--- @include "includes/names"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local len = redis.call('XLEN', KEYS[1])
local s = redis.pcall('XPENDING', KEYS[1], GROUP)
if type(s) == 'table' and s.err then return len end
local returned = 0
if s[4] then
  for _, c in ipairs(s[4]) do
    if c[1] == RETURNED then returned = tonumber(c[2]) end
  end
end
return len - s[1] + returned
