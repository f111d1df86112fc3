--[[
Pauses or resumes a schedule (Storage.setSchedulePaused).

KEYS[1]: namespace prefix. ARGV[1]: origin id, ARGV[2]: tenant id or "\0" for none,
ARGV[3]: name, ARGV[4]: "1" to pause, "0" to resume.
Result: 1 when the schedule exists, else 0.
]]
local member = (opt(ARGV[2]) or '') .. '/' .. ARGV[3]
local key = P .. 'sc:' .. member
if redis.call('EXISTS', key) == 0 then
  return 0
end
redis.call('HSET', key, 'paused', ARGV[4], 'updatedAt', fmt(NOW))
local next_fire_at = redis.call('HGET', key, 'nextFireAt')
if ARGV[4] == '0' and next_fire_at then
  redis.call('ZADD', P .. 'scd', next_fire_at, member)
else
  redis.call('ZREM', P .. 'scd', member)
end
return 1
