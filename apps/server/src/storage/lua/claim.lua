-- KEYS: q, pl, pf. ARGV: consumer, max. Takes the lowest scores (queue-order.ts), pending under the
-- consumer, and moves each level's clock up to the last rank taken there; returns their task ids.
--- @include "includes/fair-queue"
local popped = redis.call('ZPOPMIN', KEYS[1], ARGV[2])
if #popped == 0 then return {} end
local at = fmt(now_ms())
local out, hargs, clock = {}, {}, {}
for i = 1, #popped, 2 do
  local id, score = popped[i], tonumber(popped[i + 1])
  local level = math.floor(score / SPAN)
  local rank = score - level * SPAN
  out[#out + 1] = id
  hargs[#hargs + 1] = id
  hargs[#hargs + 1] = ARGV[1] .. '|' .. at .. '|' .. fmt(score)
  if clock[level] == nil or rank > clock[level] then clock[level] = rank end
  if #hargs >= 1000 then
    redis.call('HSET', KEYS[2], unpack(hargs))
    hargs = {}
  end
end
if #hargs > 0 then redis.call('HSET', KEYS[2], unpack(hargs)) end
for level, rank in pairs(clock) do
  local key = 'n:' .. level
  if rank > tonumber(redis.call('HGET', KEYS[3], key) or '0') then redis.call('HSET', KEYS[3], key, fmt(rank)) end
end
return out
