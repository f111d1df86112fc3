--[[
Schedule keys, prepended to schedules-list.lua and schedules-rekey.lua. At data layout version 2
a schedule's member in "scn" and "scd" is "<tenantId>/<name>", or "/<name>" without a tenant,
and its hash is "sc:<member>" (see schedule-upsert.lua). Version 1 used the bare name as the
member. A process of a release before version 2 that still runs after migrate writes its
schedule upserts under version 1 members, which normalize_schedule moves to version 2.
]]
local TIMING_FIELDS = { 'cron', 'intervalMs', 'timezone' }

-- Returns the fields of a flat field/value list as a table.
local function fields_of(flat)
  local fields = {}
  for i = 1, #flat, 2 do
    fields[flat[i]] = flat[i + 1]
  end
  return fields
end

local function flat_of(fields)
  local flat = {}
  for field, value in pairs(fields) do
    flat[#flat + 1] = field
    flat[#flat + 1] = value
  end
  return flat
end

-- Returns the version 2 member of a schedule, or nil when its tenant id is empty or contains
-- "/", because then the member would not tell the tenant from the name.
local function schedule_member(tenant_id, name)
  if tenant_id and (tenant_id == '' or string.find(tenant_id, '/', 1, true)) then
    return nil
  end
  return (tenant_id or '') .. '/' .. name
end

-- Replaces the hash of member `target` by `fields` and indexes it in "scn", and in "scd" when it
-- is not paused and has a next fire time.
local function store_schedule(target, fields)
  local key = P .. 'sc:' .. target
  redis.call('DEL', key)
  redis.call('HSET', key, unpack(flat_of(fields)))
  redis.call('ZADD', P .. 'scn', 0, target)
  if fields.paused == '0' and fields.nextFireAt then
    redis.call('ZADD', P .. 'scd', fields.nextFireAt, target)
  else
    redis.call('ZREM', P .. 'scd', target)
  end
end

-- Moves the version 1 entry `member`, with hash fields `fields`, to version 2 member `target`.
-- When `target` already exists, the older process's upsert updates it as an upsert of this
-- release would. The declaration replaces the stored one. The schedule keeps its creation time,
-- pause state and latest fire time, and its next fire time unless the timing changed.
-- Returns the flat hash stored under `target`.
local function move_schedule(member, fields, target)
  local current = fields_of(redis.call('HGETALL', P .. 'sc:' .. target))
  if current.name then
    local same_timing = true
    for _, field in ipairs(TIMING_FIELDS) do
      if current[field] ~= fields[field] then
        same_timing = false
      end
    end
    if same_timing then
      fields.nextFireAt = current.nextFireAt
    end
    fields.createdAt = current.createdAt or fields.createdAt
    fields.paused = current.paused or fields.paused
    if current.lastFireAt and
      (not fields.lastFireAt or tonumber(current.lastFireAt) > tonumber(fields.lastFireAt)) then
      fields.lastFireAt = current.lastFireAt
    end
  end
  redis.call('DEL', P .. 'sc:' .. member)
  redis.call('ZREM', P .. 'scn', member)
  redis.call('ZREM', P .. 'scd', member)
  store_schedule(target, fields)
  return redis.call('HGETALL', P .. 'sc:' .. target)
end

--[[
Returns the version 2 member and the flat hash of the schedule indexed as `member`. A version 1
entry is moved to its version 2 member first. An entry that is neither, such as a hash without
a name or an index entry without a hash, is taken out of "scd" (and out of "scn" when its hash
is missing), so that it cannot hold up due reads, and nil is returned. Appends {member, new
member} for a move and {member, false} for a skipped entry to `reports`.
]]
local function normalize_schedule(member, reports)
  local flat = redis.call('HGETALL', P .. 'sc:' .. member)
  local fields = fields_of(flat)
  local target = fields.name and schedule_member(fields.tenantId, fields.name)
  if target == member then
    return member, flat
  end
  if target and fields.name == member then
    reports[#reports + 1] = { member, target }
    return target, move_schedule(member, fields, target)
  end
  redis.call('ZREM', P .. 'scd', member)
  if #flat == 0 then
    redis.call('ZREM', P .. 'scn', member)
  end
  reports[#reports + 1] = { member, false }
  return nil
end
