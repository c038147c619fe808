-- KEYS: pl. ARGV: task ids. Only pending (claimed) ids are settled; queued ones stay. Returns how many.
local n = 0
for i = 1, #ARGV, 1000 do
  n = n + redis.call('HDEL', KEYS[1], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
return n
