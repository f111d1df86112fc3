--[[
Gives leases back without counting the attempt (Storage.release).

KEYS[1]: namespace prefix. ARGV[1]: origin id. ARGV[2..]: pairs (runId, leaseToken).
Result: {outcomes, notification}; outcomes holds 1 (released) or 0 (lease not held) per pair.
]]
local outcomes = {}
for i = 2, #ARGV, 2 do
  local run = load_run(ARGV[i])
  if run and run.state == 'running' and run.leaseToken == ARGV[i + 1] then
    leave_running(run)
    run.attempt = fmt(tonumber(run.attempt) - 1)
    add_event(run, 'released', nil, true)
    set_state(run, 'available', lease_cleared({ 'attempt', run.attempt }))
    add_ready(run)
    notify_work(run.queue)
    outcomes[#outcomes + 1] = 1
  else
    outcomes[#outcomes + 1] = 0
  end
end
return reply(outcomes)
