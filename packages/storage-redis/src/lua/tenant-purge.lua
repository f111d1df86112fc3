--[[
Deletes the data of deleted tenants whose purgeAt has passed, oldest purgeAt first
(Storage.purgeTenants).

KEYS[1]: namespace prefix. ARGV[1]: origin id, ARGV[2]: most runs to delete.
Result: {runsDeleted, tenantsDeleted}. A tenant whose last run went in this call also loses its
schedules, quota counters, parked runs and record, and is listed in tenantsDeleted.
]]
local HOUR_MS, DAY_MS = 3600000, 86400000
local remaining = tonumber(ARGV[2])
local runs_deleted, tenants_deleted = 0, {}

local function delete_tenant(id)
  -- The tenant's schedules are the members "<id>/<name>" (see schedule-upsert.lua).
  local schedules = redis.call('ZRANGEBYLEX', P .. 'scn', '[' .. id .. '/', '(' .. id .. '0')
  for _, member in ipairs(schedules) do
    redis.call('DEL', P .. 'sc:' .. member)
    redis.call('ZREM', P .. 'scn', member)
    redis.call('ZREM', P .. 'scd', member)
  end
  local hour = math.floor(NOW / HOUR_MS) * HOUR_MS
  local day = math.floor(NOW / DAY_MS) * DAY_MS
  redis.call('DEL', P .. 'tn:' .. id, P .. 'tnpark:' .. id, P .. 'ti:' .. id,
    P .. 'tnw:' .. id .. ':h:' .. fmt(hour), P .. 'tnw:' .. id .. ':d:' .. fmt(day))
  redis.call('ZREM', P .. 'tnn', id)
  redis.call('ZREM', P .. 'tnpurge', id)
  redis.call('SREM', P .. 'tnblocked', id)
  redis.call('HDEL', P .. 'tncap', id)
  redis.call('HDEL', P .. 'tnq', id)
  redis.call('HDEL', P .. 'tnr', id)
  tenants_deleted[#tenants_deleted + 1] = id
end

local due = redis.call('ZRANGEBYSCORE', P .. 'tnpurge', '-inf', NOW)
for _, id in ipairs(due) do
  local index = P .. 'ti:' .. id
  if remaining > 0 then
    local ids = redis.call('ZRANGE', index, 0, remaining - 1)
    for _, run_id in ipairs(ids) do
      if delete_run(run_id) then
        runs_deleted = runs_deleted + 1
      end
      remaining = remaining - 1
    end
    flush_key(index)
  end
  if redis.call('ZCARD', index) == 0 then
    delete_tenant(id)
  else
    break
  end
end
finish_deletes()
return { runs_deleted, tenants_deleted }
