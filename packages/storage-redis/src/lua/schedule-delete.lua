--[[
Deletes a schedule (Storage.deleteSchedule).

KEYS[1]: namespace prefix. ARGV[1]: origin id, ARGV[2]: tenant id or "\0" for none,
ARGV[3]: name.
Result: 1 when the schedule existed, else 0.
]]
local member = (opt(ARGV[2]) or '') .. '/' .. ARGV[3]
redis.call('ZREM', P .. 'scn', member)
redis.call('ZREM', P .. 'scd', member)
return redis.call('DEL', P .. 'sc:' .. member)
