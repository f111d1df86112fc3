--[[
Sets a tenant's status (Storage.setTenantStatus), parking or restoring its claimable runs.

KEYS[1]: namespace prefix. ARGV[1]: origin id, ARGV[2]: tenant id, ARGV[3]: "active",
"suspended" or "deleted", ARGV[4]: purgeAt for "deleted", else "\0".
Result: {tenant hash as a flat field/value list, or false when not registered, notification}.

A tenant that is not active is in "tnblocked", and its claimable runs wait in "tnpark:<tenant>"
(see lib/ready.lua). "tnpurge" scores deleted tenants by purgeAt for tenant-purge.lua.
]]
local id = ARGV[2]
local status = ARGV[3]
local key = P .. 'tn:' .. id
local before = redis.call('HGET', key, 'status')
if not before then
  return reply(false)
end

redis.call('HSET', key, 'status', status, 'updatedAt', fmt(NOW))
if status == 'deleted' then
  if before ~= 'deleted' then
    redis.call('HSET', key, 'deletedAt', fmt(NOW))
  end
  redis.call('HSET', key, 'purgeAt', ARGV[4])
  redis.call('ZADD', P .. 'tnpurge', ARGV[4], id)
else
  redis.call('HDEL', key, 'deletedAt', 'purgeAt')
  redis.call('ZREM', P .. 'tnpurge', id)
end

local park = P .. 'tnpark:' .. id
if before == 'active' and status ~= 'active' then
  -- Move the tenant's claimable runs out of their ready sets.
  redis.call('SADD', P .. 'tnblocked', id)
  local ids = redis.call('ZRANGE', P .. 'ti:' .. id, 0, -1)
  for _, run_id in ipairs(ids) do
    local run = load_run(run_id)
    if run and (run.state == 'available' or run.state == 'scheduled') and remove_ready(run) then
      redis.call('ZADD', park, negate(run.priority), run.queue .. '\0' .. ready_member(run))
    end
  end
elseif before ~= 'active' and status == 'active' then
  -- Put the parked runs back where claims find them.
  redis.call('SREM', P .. 'tnblocked', id)
  blocked_cache[id] = false
  local entries = redis.call('ZRANGE', park, 0, -1)
  redis.call('DEL', park)
  for _, entry in ipairs(entries) do
    local run = load_run(string.sub(entry, string.find(entry, '\0', 1, true) + 16))
    if run then
      add_ready(run)
      notify_work(run.queue)
    end
  end
end
return reply(redis.call('HGETALL', key))
