--[[
Creates a tenant or replaces its weight, quotas and metadata, keeping its status
(Storage.upsertTenant).

KEYS[1]: namespace prefix. ARGV[1]: origin id, ARGV[2]: tenant id, ARGV[3]: weight, ARGV[4]:
metadata or "\0", ARGV[5..8]: runsPerHour, runsPerDay, maxQueuedRuns and maxConcurrentRuns,
each "\0" when unlimited.
Result: {tenant hash as a flat field/value list, notification}.

"tncap" maps tenants with maxConcurrentRuns to it, for claims. A window quota that was unset
counts from now on: its counter for the current window is reset.
]]
local QUOTAS = { 'runsPerHour', 'runsPerDay', 'maxQueuedRuns', 'maxConcurrentRuns' }
local WINDOWS = { runsPerHour = { 'h', 3600000 }, runsPerDay = { 'd', 86400000 } }

local id = ARGV[2]
local key = P .. 'tn:' .. id
local before = redis.call('HMGET', key, 'status', unpack(QUOTAS))
if not before[1] then
  redis.call('HSET', key, 'id', id, 'status', 'active', 'createdAt', fmt(NOW))
  redis.call('ZADD', P .. 'tnn', 0, id)
end
redis.call('HSET', key, 'weight', ARGV[3], 'updatedAt', fmt(NOW))
if opt(ARGV[4]) then
  redis.call('HSET', key, 'metadata', ARGV[4])
else
  redis.call('HDEL', key, 'metadata')
end
for index, quota in ipairs(QUOTAS) do
  local value = opt(ARGV[4 + index])
  if value then
    redis.call('HSET', key, quota, value)
    local window = WINDOWS[quota]
    if window and not before[1 + index] then
      local start = math.floor(NOW / window[2]) * window[2]
      redis.call('DEL', P .. 'tnw:' .. id .. ':' .. window[1] .. ':' .. fmt(start))
    end
  else
    redis.call('HDEL', key, quota)
  end
end
if opt(ARGV[8]) then
  redis.call('HSET', P .. 'tncap', id, ARGV[8])
else
  redis.call('HDEL', P .. 'tncap', id)
end

-- A raised maxConcurrentRuns may let held-back runs of any queue through.
local message = ORIGIN .. ' ' .. cjson.encode({ n = NOW, a = 1 })
redis.call('PUBLISH', P .. 'notify', message)
return { redis.call('HGETALL', key), message }
