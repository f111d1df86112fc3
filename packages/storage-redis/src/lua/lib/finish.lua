--[[
Shared helpers for state changes that end a run or make it due, prepended after base.lua to
every script that changes runs. Defines reply(), which every such script returns through.

Dependency edges: "deps:<child>" is a hash from edge number to
"condition\0passOutput\0satisfied\0parentId" (satisfied is "", "1" or "0"), and "kids:<parent>"
lists "childId\0edgeNumber" for every child still waiting on the parent when it was inserted.
A parent with such a list has hasKids = "1", a child with edges has hasDeps = "1".
]]

local finished_queue = {}

-- Data of the `cancelled` event of a run whose dependency can no longer be met.
local DEPENDENCY_CANCEL_DATA = '{"reason":"dependency"}'

-- Fields that end a lease, for the HSET of the state change that ends it.
local function lease_cleared(fields)
  return append(fields or {}, 'leaseToken', '', 'leaseExpiresAt', '')
end

-- Moves a run that holds no lease and sits in no index to `available` or `scheduled`.
local function make_due(run, fields)
  local at = tonumber(run.runAt)
  if at > NOW then
    set_state(run, 'scheduled', fields)
    add_delayed(run, at)
    notify_due(run.queue, at)
  else
    set_state(run, 'available', fields)
    add_ready(run)
    notify_work(run.queue)
  end
end

-- Moves a run to a terminal state. The caller has already removed it from every index.
local function finish(run, to, fields)
  fields = lease_cleared(fields)
  append(fields, 'finishedAt', fmt(NOW))
  if run.waitSignal and run.waitSignal ~= '' then
    append(fields, 'waitSignal', '')
  end
  set_state(run, to, fields)
  zadd(P .. 'fin:' .. to, NOW, run.id)
  if run.uniqueKey and run.uniqueReleaseOn == 'finish' then
    release_unique(run)
  end
  notify_finished(run.id, to)
  if run.hasKids == '1' then
    finished_queue[#finished_queue + 1] = run.id
  end
end

local function condition_met(condition, parent_state)
  if condition == 'success' then
    return parent_state == 'completed'
  end
  if condition == 'failure' then
    return parent_state == 'failed' or parent_state == 'cancelled'
  end
  return true
end

-- Releases a waiting run whose parents all met their conditions.
local function release_waiting(run, with_event, fields)
  fields = append(fields or {}, 'depPending', '')
  local source = redis.call('HGET', run_key(run.id), 'passFrom')
  if source then
    local output = redis.call('HGET', run_key(source), 'output')
    if output then
      append(fields, 'input', output)
    end
  end
  if with_event then
    add_event(run, 'dependencies-met', nil, true)
  end
  make_due(run, fields)
end

-- Settles the edges of every child of one finished parent: cancels a child whose condition
-- failed and releases a child whose last pending parent was this one.
local function settle_children(parent_id)
  local entries = redis.call('LRANGE', P .. 'kids:' .. parent_id, 0, -1)
  local parent_state = redis.call('HGET', run_key(parent_id), 'state')
  for _, entry in ipairs(entries) do
    local sep = string.find(entry, '\0', 1, true)
    local child_id, edge = string.sub(entry, 1, sep - 1), string.sub(entry, sep + 1)
    local child = load_run(child_id)
    local deps_key = P .. 'deps:' .. child_id
    local encoded = child and redis.call('HGET', deps_key, edge)
    if encoded then
      local parts = split(encoded, '\0')
      if parts[3] == '' then
        -- Every edge of a finished parent is resolved, even when its child was already
        -- cancelled by another parent; only a waiting child changes state.
        local met = condition_met(parts[1], parent_state)
        parts[3] = met and '1' or '0'
        redis.call('HSET', deps_key, edge, table.concat(parts, '\0'))
        if child.state == 'waiting' then
          if not met then
            add_event(child, 'cancelled', DEPENDENCY_CANCEL_DATA, true)
            finish(child, 'cancelled')
          elseif redis.call('HINCRBY', run_key(child_id), 'depPending', -1) <= 0 then
            release_waiting(child, true)
          end
        end
      end
    end
  end
end

-- Settles children of every run finished so far, including runs cancelled on the way.
local function settle_dependents()
  local i = 1
  while i <= #finished_queue do
    settle_children(finished_queue[i])
    i = i + 1
  end
  finished_queue = {}
end

--[=[
Settles dependents, applies pending writes, publishes the collected notifications on
"<prefix>notify" and returns {result, message}. The message is the origin id, a space and JSON:
{n: now, w: [queue], d: [[queue, dueAt]], f: [[runId, state]], s: [[runId, signal]]}, or false
when there is nothing to announce.
]=]
local function reply(result)
  settle_dependents()
  flush()
  local due = {}
  for queue, at in pairs(notify_due_at) do
    due[#due + 1] = { queue, at }
  end
  if #notify_work_list == 0 and #due == 0 and #notify_finished_list == 0
    and #notify_signal_list == 0 then
    return { result, false }
  end
  local message = ORIGIN .. ' ' .. cjson.encode({
    n = NOW,
    w = notify_work_list,
    d = due,
    f = notify_finished_list,
    s = notify_signal_list,
  })
  redis.call('PUBLISH', P .. 'notify', message)
  return { result, message }
end
