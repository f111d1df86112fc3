--[[
Moves the schedules of a namespace at data layout version 1, keyed by name alone, to the keys
of version 2, where names are unique per tenant (see lib/schedule-keys.lua), and records version
2. Run by migrate; does nothing unless the namespace is at version 1, so it runs once.

KEYS[1]: namespace prefix. ARGV[1]: origin id (unused).
Result: the number of schedules moved, or an error, before any write, naming a schedule whose
tenant id cannot be part of a version 2 key.
]]
local meta = P .. 'meta'
if redis.call('HGET', meta, 'schemaVersion') ~= '1' then
  return 0
end

-- Every schedule is read and checked before the first write, because Redis keeps the writes of
-- a script that fails midway. A schedule's version 1 name is its entry in "scn", which is also
-- the end of its hash key. The hash's "name" field may be missing or differ, so it is not used.
local names = redis.call('ZRANGE', P .. 'scn', 0, -1)
local moved = {}
for _, name in ipairs(names) do
  local fields = fields_of(redis.call('HGETALL', P .. 'sc:' .. name))
  if next(fields) ~= nil then
    local member = schedule_member(fields.tenantId, name)
    if not member then
      return redis.error_reply(
        'schedule hash ' .. P .. 'sc:' .. name .. ' has tenantId "' .. fields.tenantId ..
        '", which is empty or contains "/", so it has no data layout version 2 key. Correct ' ..
        'or delete that hash and its "scn" and "scd" entries, then run migrate again')
    end
    fields.name = name
    moved[#moved + 1] = { member = member, fields = fields }
  end
end

-- Everything is deleted before anything is written: a version 1 name such as "acme/daily"
-- would otherwise collide with the new key of tenant acme's "daily".
for _, name in ipairs(names) do
  redis.call('DEL', P .. 'sc:' .. name)
  redis.call('ZREM', P .. 'scn', name)
  redis.call('ZREM', P .. 'scd', name)
end
for _, schedule in ipairs(moved) do
  store_schedule(schedule.member, schedule.fields)
end
redis.call('HSET', meta, 'schemaVersion', '2')
return #moved
