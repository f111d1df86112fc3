--[[
Completes runs whose lease is still held (Storage.complete), releasing dependents.

KEYS[1]: namespace prefix. ARGV[1]: origin id. ARGV[2..]: triples (runId, leaseToken, output).
Result: {outcomes, notification}; outcomes holds 1 (completed) or 0 (lease not held) per triple.
]]
local outcomes = {}
for i = 2, #ARGV, 3 do
  local run = load_run(ARGV[i])
  if run and run.state == 'running' and run.leaseToken == ARGV[i + 1] then
    leave_running(run)
    add_event(run, 'completed', nil, true)
    finish(run, 'completed', { 'output', ARGV[i + 2] })
    outcomes[#outcomes + 1] = 1
  else
    outcomes[#outcomes + 1] = 0
  end
end
return reply(outcomes)
