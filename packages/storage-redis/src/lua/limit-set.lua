--[[
Sets or deletes a limit (Storage.setLimit, Storage.deleteLimit) and rebuilds the running counts
that limits read.

KEYS[1]: namespace prefix. ARGV[1]: origin id, ARGV[2]: field "scope\0key", ARGV[3]: encoded
limit "concurrency\0rateLimit\0ratePeriodMs\0burstMultiplier", or "\0" to delete the limit.
Result: {changed, notification}; changed is 1 when a limit was set or an existing one deleted.

The hash "running" (see lib/base.lua) is kept only while limits exist, so it is rebuilt here
from the lease set "leases", which holds every running run.
]]
local changed
if opt(ARGV[3]) then
  redis.call('HSET', P .. 'limits', ARGV[2], ARGV[3])
  changed = 1
else
  changed = redis.call('HDEL', P .. 'limits', ARGV[2])
end

redis.call('DEL', P .. 'running')
if has_limits() then
  for _, id in ipairs(redis.call('ZRANGE', P .. 'leases', 0, -1)) do
    local run = load_run(id)
    if run and run.state == 'running' then
      for _, field in ipairs(running_fields(run)) do
        redis.call('HINCRBY', P .. 'running', field, 1)
      end
    end
  end
end

-- A changed limit may let held-back runs of any queue through.
local message = ORIGIN .. ' ' .. cjson.encode({ n = NOW, a = 1 })
redis.call('PUBLISH', P .. 'notify', message)
return { changed, message }
