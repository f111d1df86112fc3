--[[
Completes runs whose lease is still held (Storage.complete), releasing dependents.

KEYS[1]: namespace prefix. ARGV[1]: origin id. ARGV[2..]: quadruples (runId, leaseToken, output,
remove). A run with remove "1" that no run depends on, that belongs to no group and that holds
no unique key with time left to live is deleted instead, as purge.lua deletes runs
(CompleteRequest.remove).
Result: {outcomes, notification}; outcomes holds 1 (completed) or 0 (lease not held) per
quadruple.
]]
-- Checks whether the run owns its unique key with time left to live: a throttle key must
-- outlive it.
local function holds_timed_key(run)
  if not run.uniqueKey then
    return false
  end
  local holder = redis.call('HGET', P .. 'uniq', run.uniqueKey)
  local sep = holder and string.find(holder, '\0', 1, true)
  if not sep or string.sub(holder, 1, sep - 1) ~= run.id then
    return false
  end
  local expires = tonumber(string.sub(holder, sep + 1))
  return expires ~= nil and expires > NOW
end

local outcomes = {}
local removed = false
for i = 2, #ARGV, 4 do
  local run = load_run(ARGV[i])
  if run and run.state == 'running' and run.leaseToken == ARGV[i + 1] then
    if ARGV[i + 3] == '1' and run.hasKids ~= '1' and not run.groupId
      and not holds_timed_key(run) then
      -- Deleted straight from running: nothing depends on it, so there is nothing to settle.
      delete_run(run.id)
      notify_finished(run.id, 'completed')
      removed = true
    else
      leave_running(run)
      add_event(run, 'completed', nil, true)
      finish(run, 'completed', { 'output', ARGV[i + 2] })
    end
    outcomes[#outcomes + 1] = 1
  else
    outcomes[#outcomes + 1] = 0
  end
end
if removed then
  finish_deletes()
end
return reply(outcomes)
