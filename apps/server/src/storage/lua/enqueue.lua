-- KEYS: q, pl, pf. ARGV: (task id, priority, owner) triples. Queues the ids neither queued nor pending,
-- each scored by its priority and its owner's fair share (queue-order.ts); returns how many were added.
--- @include "includes/fair-queue"
local clock, last, seen = {}, {}, {}
local added = 0
for i = 1, #ARGV, 1500 do
  local ids = {}
  for j = i, math.min(i + 1499, #ARGV), 3 do ids[#ids + 1] = ARGV[j] end
  local queued = redis.call('ZMSCORE', KEYS[1], unpack(ids))
  local pending = redis.call('HMGET', KEYS[2], unpack(ids))
  local zargs = {}
  for k = 1, #ids do
    if not queued[k] and not pending[k] and not seen[ids[k]] then
      local at = i + (k - 1) * 3
      local priority = math.max(0, math.min(9, math.floor(tonumber(ARGV[at + 1]) or 5)))
      local level = 9 - priority
      local okey = 'o:' .. level .. ':' .. ARGV[at + 2]
      if clock[level] == nil then clock[level] = tonumber(redis.call('HGET', KEYS[3], 'n:' .. level) or '0') end
      if last[okey] == nil then last[okey] = tonumber(redis.call('HGET', KEYS[3], okey) or '0') end
      local rank = math.max(last[okey] + 1, clock[level] + 1)
      last[okey] = rank
      zargs[#zargs + 1] = fmt(level * SPAN + rank)
      zargs[#zargs + 1] = ids[k]
      seen[ids[k]] = true -- the same id twice in one call goes in once
      added = added + 1
    end
  end
  if #zargs > 0 then redis.call('ZADD', KEYS[1], unpack(zargs)) end
end
local hargs = {}
for okey, rank in pairs(last) do
  hargs[#hargs + 1] = okey
  hargs[#hargs + 1] = fmt(rank)
end
if #hargs > 0 then redis.call('HSET', KEYS[3], unpack(hargs)) end
return added
