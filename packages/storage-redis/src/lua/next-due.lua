--[[
Returns the earliest due time of a scheduled run, or wake-up time of a suspended run, in the
given queues (Storage.nextDueAt). Read-only.

KEYS[1]: namespace prefix. ARGV[1]: origin id (unused), ARGV[2..]: queues.
Result: the time in ms, or false when nothing is scheduled.
]]
local earliest = nil
for i = 2, #ARGV do
  local first = redis.call('ZRANGE', P .. 'd:' .. ARGV[i], 0, 0, 'WITHSCORES')
  if first[2] then
    local at = tonumber(first[2])
    if not earliest or at < earliest then
      earliest = at
    end
  end
end
return earliest or false
