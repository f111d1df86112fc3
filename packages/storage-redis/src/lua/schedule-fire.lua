--[[
Fires one schedule occurrence with compare-and-set on nextFireAt (Storage.fireSchedule), and
inserts its runs in the same atomic step.

KEYS[1]: namespace prefix. ARGV[1]: origin id, ARGV[2]: name, ARGV[3]: expected nextFireAt,
ARGV[4]: new nextFireAt or "\0" when the schedule never fires again, ARGV[5]: lastFireAt,
ARGV[6..]: runs, encoded as lib/insert.lua describes.
Result: {{fired (1/0), results}, notification}; results holds one {runId, created, replaced,
state} per run, and is empty when not fired.
]]
local name = ARGV[2]
local key = P .. 'sc:' .. name
local stored = redis.call('HGET', key, 'nextFireAt')
if not stored or tonumber(stored) ~= tonumber(ARGV[3]) then
  return reply({ 0, {} })
end
redis.call('HSET', key, 'lastFireAt', ARGV[5], 'updatedAt', fmt(NOW))
local next_fire_at = opt(ARGV[4])
if next_fire_at then
  redis.call('HSET', key, 'nextFireAt', next_fire_at)
else
  redis.call('HDEL', key, 'nextFireAt')
end
if next_fire_at and redis.call('HGET', key, 'paused') == '0' then
  redis.call('ZADD', P .. 'scd', next_fire_at, name)
else
  redis.call('ZREM', P .. 'scd', name)
end

local results = {}
local i = 6
while i <= #ARGV do
  local result
  result, i = insert_run(ARGV, i)
  results[#results + 1] = result
end
return reply({ 1, results })
