--[[
Lists runs by id with filters and keyset pagination (Storage.listRuns). Read-only.

KEYS[1]: namespace prefix. ARGV[1]: origin id (unused), ARGV[2]: page size, ARGV[3]: cursor (the
last id of the previous page) or "\0", ARGV[4]: "asc" or "desc", ARGV[5..9]: queue, job, groupId,
tenantId and partitionKey filters, each "\0" when unset, ARGV[10..]: states (none: every state).
Result: {runs, nextCursor}; runs holds one {HGETALL of the run} per run, nextCursor is false on
the last page.

Runs are read from lexicographic indexes of ids (run ids are time-ordered), merged: the group's
index "gi:<group>" or the tenant's "ti:<tenant>"; else, when available or completed runs are requested, the queue indexes
"qi:<queue>" of the filtered queue or of every queue in "queues"; else the state indexes
"s:<state>" and, for running runs, the lease set sorted here. Filters are checked on each run.
]]
-- NOTE: a page stops after examining this many runs that fail the filters. Such a page has
-- fewer runs than requested and a cursor to continue from.
local EXAMINE_MAX = 5000
local FETCH = 100
local limit = tonumber(ARGV[2])
local cursor = opt(ARGV[3])
local ascending = ARGV[4] == 'asc'
local filter = {
  queue = opt(ARGV[5]), job = opt(ARGV[6]), groupId = opt(ARGV[7]), tenantId = opt(ARGV[8]),
  partitionKey = opt(ARGV[9]),
}
local states, state_set = {}, nil
for i = 10, #ARGV do
  states[#states + 1] = ARGV[i]
  state_set = state_set or {}
  state_set[ARGV[i]] = true
end

local sources = {}
local function add_source(key)
  sources[#sources + 1] = { key = key, buffer = {}, at = 1, after = cursor, done = false }
end

local function add_queue_sources()
  if filter.queue then
    add_source(P .. 'qi:' .. filter.queue)
  else
    for _, queue in ipairs(redis.call('SMEMBERS', P .. 'queues')) do
      add_source(P .. 'qi:' .. queue)
    end
  end
end

-- Running runs have no id index: their ids come from the lease set, sorted here.
local function add_running_source()
  local ids = {}
  for _, id in ipairs(redis.call('ZRANGE', P .. 'leases', 0, -1)) do
    if not cursor or (ascending and id > cursor) or (not ascending and id < cursor) then
      ids[#ids + 1] = id
    end
  end
  table.sort(ids, function(a, b)
    if ascending then
      return a < b
    end
    return a > b
  end)
  sources[#sources + 1] = { buffer = ids, at = 1, done = true }
end

if filter.groupId then
  add_source(P .. 'gi:' .. filter.groupId)
elseif filter.tenantId then
  add_source(P .. 'ti:' .. filter.tenantId)
elseif not state_set or state_set.available or state_set.completed then
  add_queue_sources()
else
  local in_states = 0
  for _, state in ipairs(states) do
    if INDEXED[state] then
      in_states = in_states + redis.call('ZCARD', P .. 's:' .. state)
    elseif state == 'running' then
      in_states = in_states + redis.call('ZCARD', P .. 'leases')
    end
  end
  if filter.queue and redis.call('ZCARD', P .. 'qi:' .. filter.queue) < in_states then
    add_queue_sources()
  else
    for _, state in ipairs(states) do
      if INDEXED[state] then
        add_source(P .. 's:' .. state)
      elseif state == 'running' then
        add_running_source()
      end
    end
  end
end

local function head(source)
  if source.at > #source.buffer and not source.done then
    local bound = source.after and ('(' .. source.after) or (ascending and '-' or '+')
    if ascending then
      source.buffer = redis.call('ZRANGEBYLEX', source.key, bound, '+', 'LIMIT', 0, FETCH)
    else
      source.buffer = redis.call('ZREVRANGEBYLEX', source.key, bound, '-', 'LIMIT', 0, FETCH)
    end
    source.at = 1
    source.done = #source.buffer < FETCH
    if #source.buffer > 0 then
      source.after = source.buffer[#source.buffer]
    end
  end
  return source.buffer[source.at]
end

local function next_id()
  local best, best_source = nil, nil
  for _, source in ipairs(sources) do
    local id = head(source)
    if id and (not best or (ascending and id < best) or (not ascending and id > best)) then
      best, best_source = id, source
    end
  end
  if best_source then
    best_source.at = best_source.at + 1
  end
  return best
end

local function matches(id)
  local v = redis.call('HMGET', run_key(id), 'state', 'queue', 'job', 'groupId', 'tenantId',
    'partitionKey')
  if not v[1] or (state_set and not state_set[v[1]]) then
    return false
  end
  return (not filter.queue or v[2] == filter.queue) and (not filter.job or v[3] == filter.job)
    and (not filter.groupId or v[4] == filter.groupId)
    and (not filter.tenantId or v[5] == filter.tenantId)
    and (not filter.partitionKey or v[6] == filter.partitionKey)
end

local runs, last_examined, misses = {}, nil, 0
while true do
  local id = next_id()
  if not id then
    return { runs, false }
  end
  if matches(id) then
    if #runs == limit then
      return { runs, last_examined }
    end
    runs[#runs + 1] = redis.call('HGETALL', run_key(id))
    misses = 0
  else
    misses = misses + 1
  end
  last_examined = id
  if misses >= EXAMINE_MAX then
    return { runs, last_examined }
  end
end
