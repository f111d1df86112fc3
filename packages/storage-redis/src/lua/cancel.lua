--[[
Cancels a run that is not terminal (Storage.cancel); a running run loses its lease.

KEYS[1]: namespace prefix. ARGV[1]: origin id, ARGV[2]: run id.
Result: {outcome, notification}; outcome is false for an unknown run, else {cancelled (1/0),
state after the call}.
]]
local run = load_run(ARGV[2])
if not run then
  return reply(false)
end
if TERMINAL[run.state] then
  return reply({ 0, run.state })
end
if run.state == 'running' then
  leave_running(run)
end
unindex(run)
add_event(run, 'cancelled', nil, true)
finish(run, 'cancelled')
return reply({ 1, 'cancelled' })
