--[[
Reads schedules (Storage.listSchedules and Storage.dueSchedules). Read-only.

KEYS[1]: namespace prefix. ARGV[1]: origin id (unused), ARGV[2]: "all" for every schedule,
"tenant" for the schedules of tenant ARGV[3], or "due" for schedules not paused whose
nextFireAt has been reached, oldest first, at most ARGV[3] of them.
Result: one flat field/value list of the hash "sc:<member>" per schedule (see
schedule-upsert.lua for the members).
]]
local members
if ARGV[2] == 'due' then
  members = redis.call('ZRANGEBYSCORE', P .. 'scd', '-inf', NOW, 'LIMIT', 0, tonumber(ARGV[3]))
elseif ARGV[2] == 'tenant' then
  -- "0" follows "/", so the range contains exactly the members that start with "<tenant>/".
  members = redis.call('ZRANGEBYLEX', P .. 'scn', '[' .. ARGV[3] .. '/', '(' .. ARGV[3] .. '0')
else
  members = redis.call('ZRANGE', P .. 'scn', 0, -1)
end
local result = {}
for _, member in ipairs(members) do
  local flat = redis.call('HGETALL', P .. 'sc:' .. member)
  if #flat > 0 then
    result[#result + 1] = flat
  end
end
return result
