--[[
Reclaims runs whose lease expired (Storage.reclaimExpired).

KEYS[1]: namespace prefix. ARGV[1]: origin id, ARGV[2]: most runs to reclaim, ARGV[3]: message
template of the stalled error, with "%RUN%" and "%ATTEMPT%" in place of the run id and attempt,
ARGV[4]: error name, ARGV[5]: error code.
Result: {reclaimed, notification}; reclaimed holds {runId, job, queue, attempt, maxAttempts,
state, tenantId or false} per run, where state is "available" when attempts remain and
"failed" otherwise.
]]
local expired = redis.call('ZRANGEBYSCORE', P .. 'leases', '-inf', NOW, 'LIMIT', 0,
  tonumber(ARGV[2]))
local reclaimed = {}
for _, id in ipairs(expired) do
  local run = load_run(id)
  if not run or run.state ~= 'running' then
    redis.call('ZREM', P .. 'leases', id)
  else
    leave_running(run)
    local attempt, max_attempts = tonumber(run.attempt), tonumber(run.maxAttempts)
    local message = string.gsub(ARGV[3], '%%RUN%%', function()
      return id
    end)
    message = string.gsub(message, '%%ATTEMPT%%', function()
      return run.attempt
    end)
    local error_json = cjson.encode({ name = ARGV[4], code = ARGV[5], message = message })
    local will_retry = attempt < max_attempts
    local worker_id = redis.call('HGET', run_key(id), 'workerId')
    local stalled_data = '{"workerId":' .. (worker_id and cjson.encode(worker_id) or 'null') ..
      ',"willRetry":' .. tostring(will_retry) .. '}'
    add_event(run, 'stalled', stalled_data, true)
    if will_retry then
      -- No work notification, because the caller claims what it reclaimed and waking every
      -- idle worker would only make them race for these runs. Others see them on their next
      -- claim.
      set_state(run, 'available', lease_cleared({ 'error', error_json }))
      add_ready(run)
    else
      add_event(run, 'failed', '{"error":' .. error_json .. '}', true)
      finish(run, 'failed', { 'error', error_json })
    end
    reclaimed[#reclaimed + 1] = {
      id, run.job, run.queue, attempt, max_attempts, will_retry and 'available' or 'failed',
      run.tenantId,
    }
  end
end
return reply(reclaimed)
