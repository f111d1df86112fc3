--[[
Ready sets, prepended after base.lua to every script that makes runs claimable or takes them
out: plain queues, fair queues and the parking of suspended tenants' runs.

- A plain queue keeps its claimable runs in "r:<queue>" (score -priority, member zero-padded
  runAt followed by the id), so its order is the claim order.
- A fair queue ("fair" maps the queue to "by\0weightsJSON", by "tenant" or "partition") keeps
  them per key value in "fq:<queue length>:<queue><key>", same score and member. "fk:<queue>"
  scores each key that has runs by its virtual time: a claim serves the key with the lowest
  one and advances it by 1 / weight. A key that gets runs again starts at the lowest virtual
  time of the keys being served ("fv" keeps the last served time while no key has runs), so
  idle time earns no credit. A key stays in "fk" while its set is non-empty; claims drop keys
  whose set became empty.
- Runs of a tenant in "tnblocked" (suspended or deleted) are parked in "tnpark:<tenant>"
  (score -priority, member "queue\0readymember") instead, and claims never see them.
]]

local function ready_member(run)
  return pad(tonumber(run.runAt)) .. run.id
end

local fair_any = nil
local fair_cache = {}

-- The fairness of a queue as {by, weights}, or false for a plain queue.
local function fairness(queue)
  if fair_any == nil then
    fair_any = redis.call('EXISTS', P .. 'fair') == 1
  end
  if not fair_any then
    return false
  end
  local spec = fair_cache[queue]
  if spec == nil then
    spec = false
    local encoded = redis.call('HGET', P .. 'fair', queue)
    if encoded then
      local sep = string.find(encoded, '\0', 1, true)
      local weights = string.sub(encoded, sep + 1)
      spec = {
        by = string.sub(encoded, 1, sep - 1),
        weights = weights ~= '' and cjson.decode(weights) or {},
      }
    end
    fair_cache[queue] = spec
  end
  return spec
end

-- The key value a fair queue shares by; runs without one share the empty key.
local function fair_key(run, spec)
  local value = spec.by == 'tenant' and run.tenantId or run.partitionKey
  return value or ''
end

local function fair_set(queue, key)
  return P .. 'fq:' .. #queue .. ':' .. queue .. key
end

-- Virtual time at which a key that gets runs again starts.
local function fair_start(queue)
  local first = redis.call('ZRANGE', P .. 'fk:' .. queue, 0, 0, 'WITHSCORES')
  if first[2] then
    return tonumber(first[2])
  end
  return tonumber(redis.call('HGET', P .. 'fv', queue) or '0')
end

local function fair_add(queue, key, score, member)
  redis.call('ZADD', fair_set(queue, key), score, member)
  if not redis.call('ZSCORE', P .. 'fk:' .. queue, key) then
    redis.call('ZADD', P .. 'fk:' .. queue, fair_start(queue), key)
  end
end

local blocked_any = nil
local blocked_cache = {}

local function tenant_blocked(tenant)
  if not tenant then
    return false
  end
  if blocked_any == nil then
    blocked_any = redis.call('EXISTS', P .. 'tnblocked') == 1
  end
  if not blocked_any then
    return false
  end
  local blocked = blocked_cache[tenant]
  if blocked == nil then
    blocked = redis.call('SISMEMBER', P .. 'tnblocked', tenant) == 1
    blocked_cache[tenant] = blocked
  end
  return blocked
end

-- Adds a run to its queue's ready set, or parks it when its tenant is blocked.
local function add_ready(run)
  local member = ready_member(run)
  local score = negate(run.priority)
  if tenant_blocked(run.tenantId) then
    zadd(P .. 'tnpark:' .. run.tenantId, score, run.queue .. '\0' .. member)
    return
  end
  local spec = fairness(run.queue)
  if spec then
    fair_add(run.queue, fair_key(run, spec), score, member)
  else
    zadd(P .. 'r:' .. run.queue, score, member)
  end
end

local function add_delayed(run, at)
  zadd(P .. 'd:' .. run.queue, at, run.id)
end

-- Removes a run from its ready set only; returns true when it was there.
local function remove_ready(run)
  local member = ready_member(run)
  local spec = fairness(run.queue)
  if spec then
    return redis.call('ZREM', fair_set(run.queue, fair_key(run, spec)), member) == 1
  end
  flush_key(P .. 'r:' .. run.queue)
  return redis.call('ZREM', P .. 'r:' .. run.queue, member) == 1
end

-- Removes a run from the ready, parked, delayed and lease indexes, whichever holds it.
local function unindex(run)
  local member = ready_member(run)
  local spec = fairness(run.queue)
  if spec then
    redis.call('ZREM', fair_set(run.queue, fair_key(run, spec)), member)
  else
    zrem(P .. 'r:' .. run.queue, member)
  end
  if tenant_blocked(run.tenantId) then
    zrem(P .. 'tnpark:' .. run.tenantId, run.queue .. '\0' .. member)
  end
  zrem(P .. 'd:' .. run.queue, run.id)
  zrem(P .. 'leases', run.id)
end
