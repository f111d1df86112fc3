--[[
Reads schedules (Storage.listSchedules and Storage.dueSchedules). Read-only.

KEYS[1]: namespace prefix. ARGV[1]: origin id (unused), ARGV[2]: "all" for every schedule by
name, or "due" for schedules not paused whose nextFireAt has been reached, oldest first,
ARGV[3]: most schedules to return ("due" only).
Result: one flat field/value list of the hash "sc:<name>" per schedule.
]]
local names
if ARGV[2] == 'due' then
  names = redis.call('ZRANGEBYSCORE', P .. 'scd', '-inf', NOW, 'LIMIT', 0, tonumber(ARGV[3]))
else
  names = redis.call('ZRANGE', P .. 'scn', 0, -1)
end
local result = {}
for _, name in ipairs(names) do
  local flat = redis.call('HGETALL', P .. 'sc:' .. name)
  if #flat > 0 then
    result[#result + 1] = flat
  end
end
return result
