-- What every queue script shares (layout: broker.redis.ts; the order: queue-order.ts, which this must
-- agree with). A queued task's score is level * SPAN + rank, level = 9 - priority.
local SPAN = 17592186044416 -- 2^44, queue-order.ts's RANK_SPAN
-- Lua numbers print with 14 digits; scores and ranks need all of theirs.
local function fmt(n)
  return string.format('%.0f', n)
end
-- A pending entry is "consumer|claimed at (ms)|score"; the consumer may itself hold a '|'.
local function parse_pending(v)
  local consumer, at, score = string.match(v, '^(.*)|(%d+)|(%d+)$')
  return consumer, tonumber(at), score
end
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
-- Puts pending entries back in the queue with the scores they had, in queue order; returns their ids.
local function put_back(q, pl, entries)
  table.sort(entries, function(a, b)
    local sa, sb = tonumber(a[2]), tonumber(b[2])
    if sa ~= sb then return sa < sb end
    return a[1] < b[1]
  end)
  local ids = {}
  for i = 1, #entries, 500 do
    local zargs, hargs = {}, {}
    for j = i, math.min(i + 499, #entries) do
      zargs[#zargs + 1] = entries[j][2]
      zargs[#zargs + 1] = entries[j][1]
      hargs[#hargs + 1] = entries[j][1]
      ids[#ids + 1] = entries[j][1]
    end
    redis.call('ZADD', q, unpack(zargs))
    redis.call('HDEL', pl, unpack(hargs))
  end
  return ids
end
