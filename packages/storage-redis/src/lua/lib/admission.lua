--[[
Tenant admission for insert.lua, prepended after lib/insert.lua: before anything is written, a
batch is checked against the status and quotas of its runs' tenants, and rejected whole.

Tenants live in "tn:<id>" hashes (status, weight, quotas, ...); "tnn" indexes their ids. The
window quotas count created runs in "tnw:<tenant>:h:<hour start>" and "tnw:<tenant>:d:<day
start>", which expire when their window ends; "tnq" counts each tenant's queued runs.
]]
local HOUR_MS = 3600000
local DAY_MS = 86400000

local function window_key(tenant, unit, start)
  return P .. 'tnw:' .. tenant .. ':' .. unit .. ':' .. fmt(start)
end

local function window_start(length)
  return math.floor(NOW / length) * length
end

-- Returns true when insert_run would create the run at args[i], given the unique keys that
-- earlier runs of this batch take.
local function would_create(args, i, taken)
  if redis.call('EXISTS', run_key(args[i])) == 1 then
    return false
  end
  local unique_key = opt(args[i + 8])
  if not unique_key then
    return true
  end
  if taken[unique_key] or unique_holder(unique_key) then
    return false
  end
  taken[unique_key] = true
  return true
end

--[[
Returns false when the batch may be inserted, else the rejection {"rejected", kind, tenant,
quota, limit, resetAt}, where kind is "suspended", "deleted" or "quota" and resetAt is "" for
maxQueuedRuns.
]]
local function check_admission(args, first)
  if redis.call('EXISTS', P .. 'tnn') == 0 then
    return false
  end
  local created, order, taken = {}, {}, {}
  local i = first
  while i <= #args do
    local tenant = opt(args[i + 14])
    if tenant and would_create(args, i, taken) then
      if not created[tenant] then
        created[tenant] = 0
        order[#order + 1] = tenant
      end
      created[tenant] = created[tenant] + 1
    end
    i = i + RUN_ARGS + tonumber(args[i + 18]) * 3
  end

  for _, tenant in ipairs(order) do
    local t = redis.call('HMGET', P .. 'tn:' .. tenant, 'status', 'runsPerHour', 'runsPerDay',
      'maxQueuedRuns')
    if t[1] == 'suspended' or t[1] == 'deleted' then
      return { 'rejected', t[1], tenant, '', '', '' }
    end
    local count = created[tenant]
    local windows = { { 'runsPerHour', t[2], 'h', HOUR_MS }, { 'runsPerDay', t[3], 'd', DAY_MS } }
    for _, window in ipairs(windows) do
      local limit = tonumber(window[2])
      if limit then
        local start = window_start(window[4])
        local used = tonumber(redis.call('GET', window_key(tenant, window[3], start)) or '0')
        if used + count > limit then
          return { 'rejected', 'quota', tenant, window[1], window[2], fmt(start + window[4]) }
        end
      end
    end
    local max_queued = tonumber(t[4])
    if max_queued and read_count(P .. 'tnq', tenant) + count > max_queued then
      return { 'rejected', 'quota', tenant, 'maxQueuedRuns', t[4], '' }
    end
  end
  return false
end

-- Counts created runs in the window quotas their tenants have.
local function count_windows(created)
  if next(created) == nil or redis.call('EXISTS', P .. 'tnn') == 0 then
    return
  end
  for tenant, count in pairs(created) do
    local t = redis.call('HMGET', P .. 'tn:' .. tenant, 'runsPerHour', 'runsPerDay')
    local windows = { { t[1], 'h', HOUR_MS }, { t[2], 'd', DAY_MS } }
    for _, window in ipairs(windows) do
      if window[1] then
        local start = window_start(window[3])
        local key = window_key(tenant, window[2], start)
        redis.call('INCRBY', key, count)
        redis.call('PEXPIREAT', key, start + window[3] + 1000)
      end
    end
  end
end
