--[[
Deletes a schedule (Storage.deleteSchedule).

KEYS[1]: namespace prefix. ARGV[1]: origin id, ARGV[2]: name.
Result: 1 when the schedule existed, else 0.
]]
local name = ARGV[2]
redis.call('ZREM', P .. 'scn', name)
redis.call('ZREM', P .. 'scd', name)
return redis.call('DEL', P .. 'sc:' .. name)
