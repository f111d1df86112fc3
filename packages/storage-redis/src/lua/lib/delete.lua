--[[
Deletion of a run in any state with its events, state values, dependency edges and index
entries, prepended after lib/ready.lua to purge.lua and tenant-purge.lua.
]]
local MEMBERS_PER_CALL = 500

-- Removes members from a sorted set, a few hundred per call to stay within Lua's stack.
local function zrem_all(key, members)
  for first = 1, #members, MEMBERS_PER_CALL do
    local last = math.min(first + MEMBERS_PER_CALL - 1, #members)
    redis.call('ZREM', key, unpack(members, first, last))
  end
end

-- Queues that lost runs in this script; purge.lua drops the empty ones from "queues".
local touched_queues = {}

-- Deletes a run; returns false when it does not exist.
local function delete_run(id)
  local run = load_run(id)
  if not run then
    return false
  end
  local key = run_key(id)
  local flags = redis.call('HMGET', key, 'hasDeps', 'hasKids')

  local entries = redis.call('LRANGE', P .. 'ev:' .. id, 0, -1)
  if #entries > 0 then
    local members, by_type = {}, {}
    for i, entry in ipairs(entries) do
      local member = id .. '/' .. (i - 1)
      members[#members + 1] = member
      -- An entry compaction deleted is "" and left no member in any index.
      local type = string.match(entry, '^[^%z]*%z[^%z]*%z[^%z]*%z([^%z]*)')
      if type and not COMPACTION_KEPT[type] then
        by_type[type] = by_type[type] or {}
        table.insert(by_type[type], member)
      end
    end
    zrem_all(P .. 'evi', members)
    if run.groupId then
      zrem_all(P .. 'gev:' .. run.groupId, members)
    end
    for type, typed in pairs(by_type) do
      zrem_all(P .. 'evt:' .. type, typed)
    end
  end

  -- Edges where this run is the child: drop its entry from each parent's child list.
  if flags[1] == '1' then
    local edges = redis.call('HGETALL', P .. 'deps:' .. id)
    for i = 1, #edges, 2 do
      local parts = split(edges[i + 1], '\0')
      redis.call('LREM', P .. 'kids:' .. parts[4], 0, id .. '\0' .. edges[i])
    end
  end
  -- Edges where this run is the parent: drop the edge from each child.
  if flags[2] == '1' then
    for _, entry in ipairs(redis.call('LRANGE', P .. 'kids:' .. id, 0, -1)) do
      local sep = string.find(entry, '\0', 1, true)
      redis.call('HDEL', P .. 'deps:' .. string.sub(entry, 1, sep - 1), string.sub(entry, sep + 1))
    end
  end
  redis.call('DEL', key, P .. 'ev:' .. id, P .. 'deps:' .. id, P .. 'kids:' .. id, P .. 'st:' .. id)

  local state = run.state
  if state == 'running' then
    leave_running(run)
  end
  if not TERMINAL[state] then
    unindex(run)
  end
  if INDEXED[state] then
    zrem(P .. 's:' .. state, id)
  end
  zrem(P .. 'fin:' .. state, id)
  zrem(P .. 'qi:' .. run.queue, id)
  hincr(P .. 'qc:' .. run.queue, state, -1)
  touched_queues[run.queue] = true
  if run.groupId then
    zrem(P .. 'gi:' .. run.groupId, id)
    hincr(P .. 'g:' .. run.groupId, state, -1)
    hincr(P .. 'g:' .. run.groupId, 'total', -1)
  end
  if run.tenantId then
    zrem(P .. 'ti:' .. run.tenantId, id)
    count_tenant_run(run.tenantId, state, -1)
  end
  if run.uniqueKey then
    release_unique(run)
  end
  return true
end

-- Applies pending writes and drops queues without runs from "queues".
local function finish_deletes()
  flush()
  for queue in pairs(touched_queues) do
    if redis.call('EXISTS', P .. 'qc:' .. queue) == 0 then
      redis.call('SREM', P .. 'queues', queue)
    end
  end
  touched_queues = {}
end
