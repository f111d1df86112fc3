--[[
Run insertion, prepended after finish.lua to insert.lua and schedule-fire.lua.

A run is passed as 19 consecutive arguments followed by 3 per dependency:
  id, job, queue, input, priority, maxAttempts, runAt, delayMs, uniqueKey, uniqueReleaseOn,
  uniqueTtlMs, uniqueOnConflict, groupId, partitionKey, tenantId, traceContext, historyLevel,
  metadata, dependencyCount, then (parentId, condition, passOutput "1" or "0") per dependency.
Optional values are "\0" when absent.

The set "queues" holds every queue name with runs; "qi:<queue>" and "ti:<tenant>" index the
run ids of a queue and of a tenant.
The unique-key hash "uniq" maps a key to "runId\0expiresAt" (expiresAt empty without a TTL).
]]

local RUN_ARGS = 19
-- Queues already added to the set "queues" by this script.
local known_queues = {}
local REPLACEABLE = { scheduled = true, available = true, waiting = true }

-- Returns the run that owns a unique key, or nil when the key is free or its TTL passed.
local function unique_holder(unique_key)
  local holder = redis.call('HGET', P .. 'uniq', unique_key)
  if not holder then
    return nil
  end
  local sep = string.find(holder, '\0', 1, true)
  local expires = string.sub(holder, sep + 1)
  if expires ~= '' and tonumber(expires) <= NOW then
    return nil
  end
  return load_run(string.sub(holder, 1, sep - 1))
end

-- Debouncing: overwrites the input, and the due time when the new run sets one.
local function replace_run(run, input, run_at)
  if not run_at then
    redis.call('HSET', run_key(run.id), 'input', input)
  elseif run.state == 'waiting' then
    redis.call('HSET', run_key(run.id), 'input', input, 'runAt', fmt(run_at))
  else
    unindex(run)
    run.runAt = fmt(run_at)
    make_due(run, { 'input', input, 'runAt', run.runAt })
  end
end

-- Records the dependency edges of a new run and moves it to its first state, writing `fields`
-- (the new run's hash) in the same HSET.
local function settle_new_dependencies(run, args, first, count, fields)
  local pending, failed = 0, false
  append(fields, 'hasDeps', '1')
  for edge = 1, count do
    local at = first + (edge - 1) * 3
    local parent, condition, pass = args[at], args[at + 1], args[at + 2]
    local parent_state = redis.call('HGET', run_key(parent), 'state')
    local satisfied = ''
    if not parent_state then
      satisfied = '0'
      failed = true
    elseif TERMINAL[parent_state] then
      if condition_met(condition, parent_state) then
        satisfied = '1'
      else
        satisfied = '0'
        failed = true
      end
    else
      pending = pending + 1
      redis.call('RPUSH', P .. 'kids:' .. parent, run.id .. '\0' .. edge)
      redis.call('HSET', run_key(parent), 'hasKids', '1')
    end
    redis.call('HSET', P .. 'deps:' .. run.id, edge,
      condition .. '\0' .. pass .. '\0' .. satisfied .. '\0' .. parent)
    if pass == '1' then
      append(fields, 'passFrom', parent)
    end
  end
  if failed then
    add_event(run, 'cancelled', DEPENDENCY_CANCEL_DATA, true)
    finish(run, 'cancelled', fields)
  elseif pending > 0 then
    set_state(run, 'waiting', append(fields, 'depPending', pending))
  else
    -- release_waiting reads passFrom from the hash, so the hash must exist first.
    redis.call('HSET', run_key(run.id), unpack(fields))
    release_waiting(run, false)
  end
end

--[[
Inserts the run whose arguments start at args[i]. Returns {runId, created (1/0), replaced (1/0),
state} and the index of the next run's first argument.
]]
local function insert_run(args, i)
  local id, queue = args[i], args[i + 2]
  local dep_count = tonumber(args[i + 18])
  local next_i = i + RUN_ARGS + dep_count * 3

  -- Re-sending an insert (after a lost reply) must not create the run twice.
  local existing = redis.call('HGET', run_key(id), 'state')
  if existing then
    return { id, 0, 0, existing }, next_i
  end

  local run_at = NOW
  local time_set = false
  if opt(args[i + 6]) then
    run_at, time_set = tonumber(args[i + 6]), true
  elseif opt(args[i + 7]) then
    run_at, time_set = NOW + tonumber(args[i + 7]), true
  end

  local unique_key = opt(args[i + 8])
  if unique_key then
    local holder = unique_holder(unique_key)
    if holder then
      if args[i + 11] == 'replace' and REPLACEABLE[holder.state] then
        replace_run(holder, args[i + 3], time_set and run_at or nil)
        return { holder.id, 0, 1, holder.state }, next_i
      end
      return { holder.id, 0, 0, holder.state }, next_i
    end
    local ttl = opt(args[i + 10])
    local expires = ttl and fmt(NOW + tonumber(ttl)) or ''
    redis.call('HSET', P .. 'uniq', unique_key, id .. '\0' .. expires)
  end

  local run = {
    id = id, job = args[i + 1], queue = queue, priority = args[i + 4], runAt = fmt(run_at),
    attempt = '0', groupId = opt(args[i + 12]), partitionKey = opt(args[i + 13]),
    tenantId = opt(args[i + 14]), historyLevel = args[i + 16], uniqueKey = unique_key,
    uniqueReleaseOn = unique_key and args[i + 9] or nil,
  }
  local fields = {
    'id', id, 'job', run.job, 'queue', queue, 'input', args[i + 3], 'priority', run.priority,
    'attempt', '0', 'maxAttempts', args[i + 5], 'runAt', run.runAt, 'createdAt', fmt(NOW),
    'historyLevel', run.historyLevel,
  }
  local optional = {
    uniqueKey = unique_key, uniqueReleaseOn = run.uniqueReleaseOn, groupId = run.groupId,
    partitionKey = run.partitionKey, tenantId = run.tenantId, traceContext = opt(args[i + 15]),
    metadata = opt(args[i + 17]),
  }
  for name, value in pairs(optional) do
    append(fields, name, value)
  end
  zadd(P .. 'qi:' .. queue, 0, id)
  if not known_queues[queue] then
    known_queues[queue] = true
    redis.call('SADD', P .. 'queues', queue)
  end
  if run.groupId then
    zadd(P .. 'gi:' .. run.groupId, 0, id)
    hincr(P .. 'g:' .. run.groupId, 'total', 1)
  end
  if run.tenantId then
    zadd(P .. 'ti:' .. run.tenantId, 0, id)
  end
  add_event(run, 'enqueued', nil, true)

  if dep_count > 0 then
    settle_new_dependencies(run, args, i + RUN_ARGS, dep_count, fields)
  else
    make_due(run, fields)
  end
  return { id, 1, 0, run.state }, next_i
end
