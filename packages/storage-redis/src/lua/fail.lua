--[[
Fails runs whose lease is still held (Storage.fail), to a retry or to dead letter.

KEYS[1]: namespace prefix. ARGV[1]: origin id. ARGV[2..]: quadruples (runId, leaseToken,
errorJson, retryDelayMs), where retryDelayMs is "\0" for dead letter.
Result: {outcomes, notification}; outcomes holds 1 (failed) or 0 (lease not held) per quadruple.
]]
local outcomes = {}
for i = 2, #ARGV, 4 do
  local run = load_run(ARGV[i])
  if run and run.state == 'running' and run.leaseToken == ARGV[i + 1] then
    local error_json, delay = ARGV[i + 2], opt(ARGV[i + 3])
    leave_running(run)
    if delay then
      run.runAt = fmt(NOW + tonumber(delay))
      add_event(run, 'retrying', '{"delayMs":' .. delay .. ',"error":' .. error_json .. '}', true)
      make_due(run, lease_cleared({ 'error', error_json, 'runAt', run.runAt }))
    else
      add_event(run, 'failed', '{"error":' .. error_json .. '}', true)
      finish(run, 'failed', { 'error', error_json })
    end
    outcomes[#outcomes + 1] = 1
  else
    outcomes[#outcomes + 1] = 0
  end
end
return reply(outcomes)
