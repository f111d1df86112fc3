--[[
Shared helpers, prepended to every ZapJobs script before it is loaded.

KEYS[1]: the namespace key prefix, such as "{zj}:". Every key a script touches starts with it,
  so all keys share one hash tag and therefore one Redis Cluster slot. Scripts build their other
  key names from it, which Redis Cluster allows because those keys live in the same slot.
ARGV[1]: the origin id of the calling storage instance, copied into published notifications so
  that the caller can skip its own messages.

Conventions: "\0" in an argument means "absent". Times are epoch milliseconds from the server's
TIME command, read once per script as NOW. In a run hash, an empty leaseToken, leaseExpiresAt,
finishedAt, waitSignal or depPending means "none": one HSET per state change clears them.
]]
local P = KEYS[1]
local ORIGIN = ARGV[1]
local ABSENT = '\0'
local TERMINAL = { completed = true, failed = true, cancelled = true }
-- States with an id index "s:<state>" for listRuns. Available, running and completed runs are
-- the bulk of the traffic, so listRuns finds them through the queue indexes "qi:<queue>" and the
-- lease set instead, and their state changes skip two writes.
local INDEXED = {
  waiting = true, scheduled = true, suspended = true, failed = true, cancelled = true,
}

local NOW
do
  local t = redis.call('TIME')
  NOW = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function fmt(n)
  return string.format('%d', n)
end

local function opt(value)
  if value == ABSENT then
    return nil
  end
  return value
end

-- Zero-padded due time, so that members with an equal score sort by due time, then by id.
local function pad(n)
  if n < 0 then
    n = 0
  end
  return string.format('%015d', n)
end

-- Negates an integer given as a decimal string without going through a double.
local function negate(s)
  if string.sub(s, 1, 1) == '-' then
    return string.sub(s, 2)
  end
  return '-' .. s
end

local function hdec(key, field)
  if redis.call('HINCRBY', key, field, -1) <= 0 then
    redis.call('HDEL', key, field)
  end
end

local function split(s, sep)
  local parts, start = {}, 1
  while true do
    local at = string.find(s, sep, start, true)
    if not at then
      parts[#parts + 1] = string.sub(s, start)
      return parts
    end
    parts[#parts + 1] = string.sub(s, start, at - 1)
    start = at + #sep
  end
end

-- Appends values (none of them nil) to a list and returns the list.
local function append(list, ...)
  local n, values = #list, { ... }
  for i = 1, #values do
    list[n + i] = values[i]
  end
  return list
end

local function run_key(id)
  return P .. 'run:' .. id
end

--[[
Write-behind for sorted sets and counters: zadd, zrem and hincr record their change, and
flush() applies all changes of a key with one ZREM, one ZADD and one HINCRBY per field, so a
batch of runs costs a few commands per key instead of a few per run. A script must flush a key
before reading it (flush_key) and flush everything before it returns (reply() does).
]]
local pending_add, pending_rem, pending_keys = {}, {}, {}
local pending_counts, pending_count_keys = {}, {}
local PAIRS_PER_CALL = 500

local function track(key)
  if not pending_add[key] then
    pending_add[key], pending_rem[key] = {}, {}
    pending_keys[#pending_keys + 1] = key
  end
end

local function zadd(key, score, member)
  track(key)
  pending_rem[key][member] = nil
  pending_add[key][member] = score
end

local function zrem(key, member)
  track(key)
  pending_add[key][member] = nil
  pending_rem[key][member] = true
end

local function hincr(key, field, delta)
  local fields = pending_counts[key]
  if not fields then
    fields = {}
    pending_counts[key] = fields
    pending_count_keys[#pending_count_keys + 1] = key
  end
  fields[field] = (fields[field] or 0) + delta
end

local function flush_key(key)
  local removals, additions = pending_rem[key], pending_add[key]
  if not removals then
    return
  end
  local args = {}
  for member in pairs(removals) do
    args[#args + 1] = member
    if #args == PAIRS_PER_CALL then
      redis.call('ZREM', key, unpack(args))
      args = {}
    end
  end
  if #args > 0 then
    redis.call('ZREM', key, unpack(args))
  end
  args = {}
  for member, score in pairs(additions) do
    args[#args + 1] = score
    args[#args + 1] = member
    if #args == PAIRS_PER_CALL * 2 then
      redis.call('ZADD', key, unpack(args))
      args = {}
    end
  end
  if #args > 0 then
    redis.call('ZADD', key, unpack(args))
  end
  pending_add[key], pending_rem[key] = {}, {}
end

-- Applies every pending change. A counter that drops to zero or below is deleted.
local function flush()
  for _, key in ipairs(pending_keys) do
    flush_key(key)
  end
  for _, key in ipairs(pending_count_keys) do
    for field, delta in pairs(pending_counts[key]) do
      if delta ~= 0 and redis.call('HINCRBY', key, field, delta) <= 0 then
        redis.call('HDEL', key, field)
      end
    end
    pending_counts[key] = {}
  end
end

-- Sequence numbers (event ids and lease tokens) come from the counter "seq" in blocks of 100,
-- so a script increments it once. Numbers skipped at the end of a block are never used.
local seq_next, seq_last = 1, 0
local function next_seq()
  if seq_next > seq_last then
    seq_last = redis.call('INCRBY', P .. 'seq', 100)
    seq_next = seq_last - 99
  end
  local value = seq_next
  seq_next = value + 1
  return value
end

-- Fields a script needs to move a run between states; missing fields load as false.
local RUN_FIELDS = {
  'state', 'queue', 'job', 'priority', 'runAt', 'attempt', 'maxAttempts', 'groupId',
  'tenantId', 'partitionKey', 'historyLevel', 'leaseToken', 'uniqueKey', 'uniqueReleaseOn',
  'waitSignal', 'hasKids',
}

local function load_run(id)
  local values = redis.call('HMGET', run_key(id), unpack(RUN_FIELDS))
  if not values[1] then
    return nil
  end
  local run = { id = id }
  for i, name in ipairs(RUN_FIELDS) do
    run[name] = values[i]
  end
  return run
end

-- Loads every field of a run, for scripts that return the record: the run table, and the record
-- as {flat = HGETALL list, at = field name -> index of its value in flat}.
local function load_full(id)
  local flat = redis.call('HGETALL', run_key(id))
  if #flat == 0 then
    return nil
  end
  local at = {}
  for i = 1, #flat, 2 do
    at[flat[i]] = i + 1
  end
  local run = { id = id }
  for _, name in ipairs(RUN_FIELDS) do
    local index = at[name]
    run[name] = index and flat[index] or false
  end
  return run, { flat = flat, at = at }
end

-- States that count toward a tenant's maxQueuedRuns.
local QUEUED = { waiting = true, scheduled = true, available = true }

-- Keeps the per-tenant counts of queued ("tnq") and running ("tnr") runs, which the tenant
-- quotas maxQueuedRuns and maxConcurrentRuns read.
local function count_tenant_run(tenant, state, delta)
  if QUEUED[state] then
    hincr(P .. 'tnq', tenant, delta)
  elseif state == 'running' then
    hincr(P .. 'tnr', tenant, delta)
  end
end

-- Reads a counter, including changes not yet flushed by this script.
local function read_count(key, field)
  local stored = tonumber(redis.call('HGET', key, field) or '0')
  local fields = pending_counts[key]
  return stored + (fields and fields[field] or 0)
end

--[[
Moves a run to another state and writes `fields` (a flat name/value list) with the state in one
HSET. Keeps the state indexes and the per-queue ("qc:<queue>") and per-group ("g:<group>")
counters in step. A run without a state yet is a new one.
]]
local function set_state(run, to, fields)
  fields = fields or {}
  local from = run.state
  if from ~= to then
    if from then
      if INDEXED[from] then
        zrem(P .. 's:' .. from, run.id)
      end
      hincr(P .. 'qc:' .. run.queue, from, -1)
      if run.groupId then
        hincr(P .. 'g:' .. run.groupId, from, -1)
      end
    end
    if INDEXED[to] then
      zadd(P .. 's:' .. to, 0, run.id)
    end
    hincr(P .. 'qc:' .. run.queue, to, 1)
    if run.groupId then
      hincr(P .. 'g:' .. run.groupId, to, 1)
    end
    if run.tenantId then
      count_tenant_run(run.tenantId, from, -1)
      count_tenant_run(run.tenantId, to, 1)
    end
    append(fields, 'state', to)
    run.state = to
  end
  if #fields > 0 then
    redis.call('HSET', run_key(run.id), unpack(fields))
  end
end

--[[
Running counts for limits live in the hash "running", with fields "q:<queue>", "j:<job>" and
"p:<queue length>:<queue><partition key>". They are kept only while the hash "limits" has
entries; limit-set.lua rebuilds them from the lease set when limits change.
]]
local limits_exist = nil
local function has_limits()
  if limits_exist == nil then
    limits_exist = redis.call('EXISTS', P .. 'limits') == 1
  end
  return limits_exist
end

local function running_fields(run)
  local fields = { 'q:' .. run.queue, 'j:' .. run.job }
  if run.partitionKey then
    fields[3] = 'p:' .. #run.queue .. ':' .. run.queue .. run.partitionKey
  end
  return fields
end

local function enter_running(run)
  if has_limits() then
    for _, field in ipairs(running_fields(run)) do
      redis.call('HINCRBY', P .. 'running', field, 1)
    end
  end
end

-- Lifecycle event types that event compaction keeps (every one but `progress`). Events of the
-- other types are also indexed in "evt:<type>", which compact-events.lua reads.
local COMPACTION_KEPT = {
  enqueued = true, started = true, completed = true, failed = true, retrying = true,
  cancelled = true, stalled = true, released = true, suspended = true, resumed = true,
  ['dependencies-met'] = true, signal = true,
}

--[[
Appends an event to the run's list "ev:<id>" and indexes it by sequence number in "evi" (all
events), "gev:<group>" and, for a type that compaction may delete, "evt:<type>". An entry is
"seq\0at\0attempt\0type", followed by "\0data" when the event has data; compaction replaces a
deleted entry by "" so that the positions of the others stay valid. History levels: `off`
records nothing, `lifecycle` records lifecycle events except `progress`, and `full` records
everything, including events that core or plugins append.
]]
local function add_event(run, type, data, lifecycle, attempt)
  local level = run.historyLevel
  if level == 'off' or (level == 'lifecycle' and (not lifecycle or type == 'progress')) then
    return
  end
  if lifecycle then
    attempt = run.attempt
  end
  local seq = next_seq()
  local entry = fmt(seq) .. '\0' .. fmt(NOW) .. '\0' .. (attempt or '') .. '\0' .. type
  if data then
    entry = entry .. '\0' .. data
  end
  local pos = redis.call('RPUSH', P .. 'ev:' .. run.id, entry) - 1
  local member = run.id .. '/' .. pos
  zadd(P .. 'evi', seq, member)
  if run.groupId then
    zadd(P .. 'gev:' .. run.groupId, seq, member)
  end
  if not COMPACTION_KEPT[type] then
    zadd(P .. 'evt:' .. type, seq, member)
  end
end

-- Notifications collected while the script runs and published once by reply().
local notify_work_seen, notify_work_list, notify_due_at = {}, {}, {}
local notify_finished_list, notify_signal_list = {}, {}

local function notify_work(queue)
  if not notify_work_seen[queue] then
    notify_work_seen[queue] = true
    notify_work_list[#notify_work_list + 1] = queue
  end
end

local function notify_due(queue, at)
  local current = notify_due_at[queue]
  if not current or at < current then
    notify_due_at[queue] = at
  end
end

local function notify_finished(id, state)
  notify_finished_list[#notify_finished_list + 1] = { id, state }
end

local function notify_signal(id, name)
  notify_signal_list[#notify_signal_list + 1] = { id, name }
end

-- Leaves the lease set and the running counts. The caller clears the lease fields.
local function leave_running(run)
  zrem(P .. 'leases', run.id)
  if has_limits() then
    for _, field in ipairs(running_fields(run)) do
      hdec(P .. 'running', field)
    end
    -- A freed slot may let a run held back by a concurrency limit through.
    notify_work(run.queue)
  end
end

local function release_unique(run)
  local holder = redis.call('HGET', P .. 'uniq', run.uniqueKey)
  if holder and string.sub(holder, 1, #run.id + 1) == run.id .. '\0' then
    redis.call('HDEL', P .. 'uniq', run.uniqueKey)
  end
end
