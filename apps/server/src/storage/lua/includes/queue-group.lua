-- Recreates the group after FLUSHALL or a restart without persistence (NOGROUP otherwise). At id 0, not
-- `$`, so that a stream that survived without its group is still delivered from its first entry.
local function ensure_group(q)
  local r = redis.pcall('XGROUP', 'CREATE', q, GROUP, '0', 'MKSTREAM')
  if type(r) == 'table' and r.err and not string.find(r.err, 'BUSYGROUP', 1, true) then
    return redis.error_reply(r.err)
  end
  return nil
end
local function claim_into(q, consumer, minidle, ids, out)
  for i = 1, #ids, 500 do
    local chunk = {}
    for j = i, math.min(i + 499, #ids) do chunk[#chunk + 1] = ids[j] end
    local claimed = redis.call('XCLAIM', q, GROUP, consumer, minidle, unpack(chunk))
    for _, e in ipairs(claimed) do
      -- an entry deleted behind our back comes back as nil (Redis 6.2) or not at all (7.0)
      if e and e[2] then out[#out + 1] = e[2][2] end
    end
  end
end
