--[[
Moves the schedules of a namespace at data layout version 1, keyed by name alone, to the keys
of version 2, where names are unique per tenant (see schedule-upsert.lua), and records version
2. Run by migrate; does nothing unless the namespace is at version 1, so it runs once.

KEYS[1]: namespace prefix. ARGV[1]: origin id (unused).
Result: the number of schedules moved.
]]
local meta = P .. 'meta'
if redis.call('HGET', meta, 'schemaVersion') ~= '1' then
  return 0
end

-- Everything is read and deleted before anything is written: a version 1 name such as
-- "acme/daily" would otherwise collide with the new key of tenant acme's "daily".
local moved = {}
for _, name in ipairs(redis.call('ZRANGE', P .. 'scn', 0, -1)) do
  local key = P .. 'sc:' .. name
  local flat = redis.call('HGETALL', key)
  if #flat > 0 then
    moved[#moved + 1] = { flat = flat, due = redis.call('ZSCORE', P .. 'scd', name) }
  end
  redis.call('DEL', key)
  redis.call('ZREM', P .. 'scn', name)
  redis.call('ZREM', P .. 'scd', name)
end

for _, schedule in ipairs(moved) do
  local fields = {}
  for i = 1, #schedule.flat, 2 do
    fields[schedule.flat[i]] = schedule.flat[i + 1]
  end
  local member = (fields.tenantId or '') .. '/' .. fields.name
  redis.call('HSET', P .. 'sc:' .. member, unpack(schedule.flat))
  redis.call('ZADD', P .. 'scn', 0, member)
  if schedule.due then
    redis.call('ZADD', P .. 'scd', schedule.due, member)
  end
end
redis.call('HSET', meta, 'schemaVersion', '2')
return #moved
