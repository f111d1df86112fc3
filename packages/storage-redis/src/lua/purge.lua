--[[
Deletes finished runs with their events, state values, dependency edges and index entries
(Storage.purgeRuns and the automatic retention step).

KEYS[1]: namespace prefix. ARGV[1]: origin id, ARGV[2]: most runs to delete, ARGV[3]: "absolute"
when each cutoff is a time, "age" when it is a number of ms before the server's now,
ARGV[4..]: pairs (state, cutoff). Runs of that state that finished before the cutoff go.
Result: the number of runs deleted.

Runs are found through "fin:<state>", scored by finish time, so the work is proportional to the
number of runs deleted.
]]
local remaining = tonumber(ARGV[2])
local deleted = 0
for i = 4, #ARGV, 2 do
  local state, cutoff = ARGV[i], tonumber(ARGV[i + 1])
  if ARGV[3] == 'age' then
    cutoff = NOW - cutoff
  end
  if TERMINAL[state] and remaining > 0 then
    local ids = redis.call('ZRANGEBYSCORE', P .. 'fin:' .. state, '-inf', '(' .. fmt(cutoff),
      'LIMIT', 0, remaining)
    for _, id in ipairs(ids) do
      if delete_run(id) then
        deleted = deleted + 1
        remaining = remaining - 1
      else
        redis.call('ZREM', P .. 'fin:' .. state, id)
      end
    end
  end
end
finish_deletes()
return deleted
