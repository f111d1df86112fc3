--[[
Counts runs per state (Storage.countRuns). Read-only.

KEYS[1]: namespace prefix. ARGV[1]: origin id (unused), ARGV[2..6]: queue, job, groupId, tenantId
and partitionKey filters, each "\0" when unset, ARGV[7..]: states to count (none: every state).
Result: a flat list of state, count pairs for the requested states.

Without filters, or with only a queue or only a group, the counts come from the counter hashes
"qc:<queue>" (of every queue in "queues") and "g:<group>". Other filters read every run of the
group, the tenant ("ti:<tenant>"), the queue, or of every queue.
]]
local ALL_STATES = {
  'waiting', 'scheduled', 'available', 'running', 'suspended', 'completed', 'failed', 'cancelled',
}
local queue, job, group, tenant, partition =
  opt(ARGV[2]), opt(ARGV[3]), opt(ARGV[4]), opt(ARGV[5]), opt(ARGV[6])
local states = {}
for i = 7, #ARGV do
  states[#states + 1] = ARGV[i]
end
if #states == 0 then
  states = ALL_STATES
end

local counts = {}
for _, state in ipairs(states) do
  counts[state] = 0
end

local function scan(key)
  local after = '-'
  while true do
    local ids = redis.call('ZRANGEBYLEX', key, after, '+', 'LIMIT', 0, 500)
    for _, id in ipairs(ids) do
      local v = redis.call('HMGET', run_key(id), 'state', 'queue', 'job', 'groupId', 'tenantId',
        'partitionKey')
      if v[1] and counts[v[1]] and (not queue or v[2] == queue) and (not job or v[3] == job)
        and (not group or v[4] == group) and (not tenant or v[5] == tenant)
        and (not partition or v[6] == partition) then
        counts[v[1]] = counts[v[1]] + 1
      end
    end
    if #ids < 500 then
      return
    end
    after = '(' .. ids[#ids]
  end
end

local function each_queue(action)
  for _, name in ipairs(redis.call('SMEMBERS', P .. 'queues')) do
    action(name)
  end
end

local function add_hash(key)
  local flat = redis.call('HGETALL', key)
  for i = 1, #flat, 2 do
    if counts[flat[i]] then
      counts[flat[i]] = counts[flat[i]] + tonumber(flat[i + 1])
    end
  end
end

if not job and not tenant and not partition and not (queue and group) then
  if group then
    add_hash(P .. 'g:' .. group)
  elseif queue then
    add_hash(P .. 'qc:' .. queue)
  else
    each_queue(function(name)
      add_hash(P .. 'qc:' .. name)
    end)
  end
elseif group then
  scan(P .. 'gi:' .. group)
elseif tenant then
  scan(P .. 'ti:' .. tenant)
elseif queue then
  scan(P .. 'qi:' .. queue)
else
  -- NOTE: a count filtered only by job or partition key reads every run; there is no index on
  -- those fields.
  each_queue(function(name)
    scan(P .. 'qi:' .. name)
  end)
end

local flat = {}
for _, state in ipairs(states) do
  flat[#flat + 1] = state
  flat[#flat + 1] = counts[state]
end
return flat
