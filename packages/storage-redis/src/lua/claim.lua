--[[
Claims due runs for a worker (Storage.claim), honoring every limit in "limits".

KEYS[1]: namespace prefix. ARGV[1]: origin id, ARGV[2]: worker id, ARGV[3]: most runs to claim,
ARGV[4]: lease length in ms, ARGV[5..]: queues in priority order.
Result: {claimed, notification}; claimed holds, per claimed run in claim order, the run's fields
as a flat name/value list as stored after the claim. The lease token is the `leaseToken` field.
A run that a limit admitted past its normal cap also has a `bursts` field, which is not stored:
a JSON array of burst uses in the shape of the storage contract's BurstUse.

Order: queue order, then priority (higher first), then due time, then id. The ready set
"r:<queue>" has score -priority and member zero-padded runAt followed by the id, so its natural
order is the claim order. Scheduled runs that came due, and suspended runs whose wake-up time
passed, are first moved from "d:<queue>" to the ready set.

Limits: "limits" maps "scope\0key" to "concurrency\0rateLimit\0ratePeriodMs\0burstMultiplier"
(empty parts are unset). Running counts live in the hash "running"; claims inside a rate window
live in the sorted set "rate:<scope>:<key>". A first pass applies the plain limits. When slots
remain and some run was held back by a limit, a second pass applies the limits multiplied by
their burst multiplier, because then no other claimable run is waiting for this worker. Each run
the second pass takes past a normal cap gets its burst uses.
A tenant's maxConcurrentRuns ("tncap") caps its running count ("tnr") like a concurrency limit.

Fair queues (see lib/ready.lua) are served key by key in virtual-time order, each key in claim
order; a key whose next run is held back by a limit is skipped for the rest of the claim.
]]

local PROMOTE_MAX = 1000
-- NOTE: at most this many held-back runs are examined per queue and pass, so a claimable run
-- behind more than SCAN_MAX runs blocked by job, partition or tenant limits waits for a later
-- claim. In a fair queue only each key's next run is examined.
local SCAN_MAX = 1000

local worker_id = ARGV[2]
local remaining = tonumber(ARGV[3])
local lease_ms = tonumber(ARGV[4])
local claimed = {}

local function promote(queue)
  local delayed_key = P .. 'd:' .. queue
  flush_key(delayed_key)
  local due = redis.call('ZRANGEBYSCORE', delayed_key, '-inf', NOW, 'LIMIT', 0, PROMOTE_MAX)
  for _, id in ipairs(due) do
    redis.call('ZREM', delayed_key, id)
    local run = load_run(id)
    if run and run.state == 'suspended' then
      add_event(run, 'resumed', nil, true)
      set_state(run, 'available', { 'waitSignal', '' })
      add_ready(run)
    elseif run and run.state == 'scheduled' then
      add_ready(run)
    end
  end
end

local function load_limits()
  local flat = redis.call('HGETALL', P .. 'limits')
  local limits = { queue = {}, job = {}, partition = {}, any_job = false, any_burst = false }
  for i = 1, #flat, 2 do
    local sep = string.find(flat[i], '\0', 1, true)
    local scope, key = string.sub(flat[i], 1, sep - 1), string.sub(flat[i], sep + 1)
    local parts = split(flat[i + 1], '\0')
    local spec = {
      scope = scope,
      key = key,
      concurrency = tonumber(parts[1]),
      rate_limit = tonumber(parts[2]),
      rate_period = tonumber(parts[3]),
      stored_burst = tonumber(parts[4]),
      burst = tonumber(parts[4]) or 1,
    }
    if limits[scope] then
      limits[scope][key] = spec
      limits.any_job = limits.any_job or scope == 'job'
      limits.any_burst = limits.any_burst or spec.burst > 1
    end
  end
  return limits, #flat > 0
end

local limits
limits, limits_exist = load_limits()
local tenant_caps = redis.call('EXISTS', P .. 'tncap') == 1
local cap_cache = {}

-- A limit entry: {spec, counter hash, counter field, rate-window key, partition key}. A tenant's
-- maxConcurrentRuns is an entry whose spec has no scope.
local function queue_entry(queue)
  local spec = limits.queue[queue]
  return spec and { spec, P .. 'running', 'q:' .. queue, P .. 'rate:q:' .. queue }
end

-- The limits that apply to a run beyond its queue's own.
local function applicable(run)
  local found = {}
  local spec = limits.job[run.job]
  if spec then
    found[#found + 1] = { spec, P .. 'running', 'j:' .. run.job, P .. 'rate:j:' .. run.job }
  end
  spec = run.partitionKey and limits.partition[run.queue]
  if spec then
    local suffix = #run.queue .. ':' .. run.queue .. run.partitionKey
    found[#found + 1] = {
      spec, P .. 'running', 'p:' .. suffix, P .. 'rate:p:' .. suffix, run.partitionKey,
    }
  end
  if tenant_caps and run.tenantId then
    local cap = cap_cache[run.tenantId]
    if cap == nil then
      cap = tonumber(redis.call('HGET', P .. 'tncap', run.tenantId)) or false
      cap_cache[run.tenantId] = cap
    end
    if cap then
      found[#found + 1] = { { concurrency = cap, burst = 1 }, P .. 'tnr', run.tenantId }
    end
  end
  return found
end

local function within(queue, entry, bursting)
  local spec = entry[1]
  local multiplier = bursting and spec.burst or 1
  if spec.concurrency then
    if read_count(entry[2], entry[3]) >= math.floor(spec.concurrency * multiplier) then
      return false
    end
  end
  if spec.rate_limit then
    redis.call('ZREMRANGEBYSCORE', entry[4], '-inf', NOW - spec.rate_period)
    if redis.call('ZCARD', entry[4]) >= math.floor(spec.rate_limit * multiplier) then
      -- Tell idle workers when the oldest claim leaves the window.
      local oldest = redis.call('ZRANGE', entry[4], 0, 0, 'WITHSCORES')
      if oldest[2] then
        notify_due(queue, tonumber(oldest[2]) + spec.rate_period + 1)
      end
      return false
    end
  end
  return true
end

local function all_within(queue, entries, bursting)
  for _, entry in ipairs(entries) do
    if not within(queue, entry, bursting) then
      return false
    end
  end
  return true
end

local started_data = '{"workerId":' .. cjson.encode(worker_id) .. '}'

local function burst_use(entry, kind, count)
  local spec = entry[1]
  local limit = {
    scope = spec.scope, key = spec.key, concurrency = spec.concurrency,
    burstMultiplier = spec.stored_burst,
  }
  if spec.rate_limit and spec.rate_period then
    limit.rate = { limit = spec.rate_limit, periodMs = spec.rate_period }
  end
  return { limit = limit, kind = kind, partitionKey = entry[5] or cjson.null, count = count }
end

-- The caps of `entries` that a run about to be claimed takes past their normal value. within()
-- pruned the rate windows of `entries` earlier in this script, so ZCARD counts only claims
-- inside them.
local function burst_uses(entries)
  local uses = {}
  for _, entry in ipairs(entries) do
    local spec = entry[1]
    if spec.scope and spec.burst > 1 then
      if spec.concurrency then
        local running = read_count(entry[2], entry[3]) + 1
        if running > spec.concurrency then
          uses[#uses + 1] = burst_use(entry, 'concurrency', running)
        end
      end
      if spec.rate_limit then
        local claims = redis.call('ZCARD', entry[4]) + 1
        if claims > spec.rate_limit then
          uses[#uses + 1] = burst_use(entry, 'rate', claims)
        end
      end
    end
  end
  return uses
end

-- Claims a run loaded with load_full. `record` is its stored fields, which the caller receives.
-- In the burst pass (`bursting`), the burst uses of the run go to its `bursts` field.
local function claim_run(run, record, entries, bursting)
  local uses = bursting and burst_uses(entries)
  local token = fmt(next_seq())
  local expires = NOW + lease_ms
  run.attempt = fmt(tonumber(run.attempt) + 1)
  local changes = {
    'attempt', run.attempt, 'leaseToken', token, 'leaseExpiresAt', fmt(expires),
    'startedAt', fmt(NOW), 'workerId', worker_id,
  }
  if not record.at.firstStartedAt then
    append(changes, 'firstStartedAt', fmt(NOW))
  end
  set_state(run, 'running', changes)
  local flat = record.flat
  for i = 1, #changes, 2 do
    local at = record.at[changes[i]]
    if at then
      flat[at] = changes[i + 1]
    else
      flat[#flat + 1] = changes[i]
      flat[#flat + 1] = changes[i + 1]
    end
  end
  zadd(P .. 'leases', expires, run.id)
  enter_running(run)
  for _, entry in ipairs(entries) do
    local spec = entry[1]
    if spec.rate_limit then
      redis.call('ZADD', entry[4], NOW, run.id .. ':' .. token)
      redis.call('PEXPIRE', entry[4], spec.rate_period)
    end
  end
  if run.uniqueKey and run.uniqueReleaseOn == 'start' then
    release_unique(run)
  end
  add_event(run, 'started', started_data, true)
  if uses and #uses > 0 then
    append(flat, 'bursts', cjson.encode(uses))
  end
  claimed[#claimed + 1] = flat
  remaining = remaining - 1
end

local function claimable(run)
  return run and (run.state == 'available' or run.state == 'scheduled')
end

-- Claims in ready-set order while no limit applies to the queue.
local function claim_unlimited(ready_key)
  flush_key(ready_key)
  while remaining > 0 do
    local popped = redis.call('ZPOPMIN', ready_key, remaining)
    if #popped == 0 then
      return
    end
    for i = 1, #popped, 2 do
      local run, record = load_full(string.sub(popped[i], 16))
      if claimable(run) then
        claim_run(run, record, {}, false)
      end
    end
  end
end

-- Returns true when some run was held back by a limit.
local function claim_limited(queue, ready_key, bursting)
  local own = queue_entry(queue)
  if own and not within(queue, own, bursting) then
    return true
  end
  local held, scanned = 0, 0
  flush_key(ready_key)
  while remaining > 0 and scanned < SCAN_MAX do
    local batch = redis.call('ZRANGE', ready_key, held, held + 99)
    if #batch == 0 then
      break
    end
    for _, member in ipairs(batch) do
      scanned = scanned + 1
      local run, record = load_full(string.sub(member, 16))
      if not claimable(run) then
        redis.call('ZREM', ready_key, member)
      else
        local entries = applicable(run)
        if all_within(queue, entries, bursting) then
          redis.call('ZREM', ready_key, member)
          if own then
            table.insert(entries, 1, own)
          end
          claim_run(run, record, entries, bursting)
          if remaining == 0 then
            return held > 0
          end
          if own and not within(queue, own, bursting) then
            return true
          end
        else
          held = held + 1
        end
      end
    end
  end
  return held > 0
end

local weight_cache = {}

local function fair_weight(spec, key)
  local weight = spec.weights[key]
  if weight then
    return weight
  end
  if spec.by == 'tenant' and key ~= '' then
    weight = weight_cache[key]
    if weight == nil then
      weight = tonumber(redis.call('HGET', P .. 'tn:' .. key, 'weight')) or 1
      weight_cache[key] = weight
    end
    return weight
  end
  return 1
end

-- Claims from a fair queue; returns true when some run was held back by a limit.
local function claim_fair(queue, spec, bursting)
  local own = queue_entry(queue)
  local keys_key = P .. 'fk:' .. queue
  local skipped, skipped_count, held = {}, 0, false
  while remaining > 0 do
    if own and not within(queue, own, bursting) then
      return true
    end
    -- The skipped keys come first in virtual-time order, so one more entry finds the next key.
    local candidates = redis.call('ZRANGE', keys_key, 0, skipped_count, 'WITHSCORES')
    local key, time = nil, nil
    for i = 1, #candidates, 2 do
      if not skipped[candidates[i]] then
        key, time = candidates[i], tonumber(candidates[i + 1])
        break
      end
    end
    if not key then
      return held
    end
    local set = fair_set(queue, key)
    local head = redis.call('ZRANGE', set, 0, 0)
    local run, record = nil, nil
    if head[1] then
      run, record = load_full(string.sub(head[1], 16))
    end
    if not head[1] then
      redis.call('ZREM', keys_key, key)
      redis.call('HSET', P .. 'fv', queue, time)
    elseif not claimable(run) then
      redis.call('ZREM', set, head[1])
    else
      local entries = applicable(run)
      if all_within(queue, entries, bursting) then
        redis.call('ZREM', set, head[1])
        if own then
          table.insert(entries, 1, own)
        end
        claim_run(run, record, entries, bursting)
        redis.call('ZADD', keys_key, time + 1 / fair_weight(spec, key), key)
      else
        skipped[key] = true
        skipped_count = skipped_count + 1
        held = true
      end
    end
  end
  return held
end

local function limited(queue)
  return limits_exist and (limits.any_job or limits.queue[queue] or limits.partition[queue])
    or tenant_caps
end

local held_back = false
for q = 5, #ARGV do
  if remaining == 0 then
    break
  end
  local queue = ARGV[q]
  local ready_key = P .. 'r:' .. queue
  promote(queue)
  local spec = fairness(queue)
  if spec then
    held_back = claim_fair(queue, spec, false) or held_back
  elseif not limited(queue) then
    claim_unlimited(ready_key)
  elseif claim_limited(queue, ready_key, false) then
    held_back = true
  end
end

if held_back and remaining > 0 and limits.any_burst then
  for q = 5, #ARGV do
    if remaining == 0 then
      break
    end
    local queue = ARGV[q]
    local spec = fairness(queue)
    if spec then
      claim_fair(queue, spec, true)
    elseif limited(queue) then
      claim_limited(queue, P .. 'r:' .. queue, true)
    end
  end
end

return reply(claimed)
