--[[
Pauses or resumes a schedule (Storage.setSchedulePaused).

KEYS[1]: namespace prefix. ARGV[1]: origin id, ARGV[2]: name, ARGV[3]: "1" to pause, "0" to
resume.
Result: 1 when the schedule exists, else 0.
]]
local name = ARGV[2]
local key = P .. 'sc:' .. name
if redis.call('EXISTS', key) == 0 then
  return 0
end
redis.call('HSET', key, 'paused', ARGV[3], 'updatedAt', fmt(NOW))
local next_fire_at = redis.call('HGET', key, 'nextFireAt')
if ARGV[3] == '0' and next_fire_at then
  redis.call('ZADD', P .. 'scd', next_fire_at, name)
else
  redis.call('ZREM', P .. 'scd', name)
end
return 1
