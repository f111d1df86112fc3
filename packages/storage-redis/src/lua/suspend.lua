--[[
Parks a running run until a time or a signal (Storage.suspend), without counting the attempt.

KEYS[1]: namespace prefix. ARGV[1]: origin id, ARGV[2]: run id, ARGV[3]: lease token,
ARGV[4]: absolute wake-up time or "\0", ARGV[5]: wake-up delay in ms or "\0",
ARGV[6]: signal name or "\0".
Result: {outcome, notification}; outcome is 1 when suspended, 0 when the lease is not held.

A run suspended with neither a time nor a signal waits for the signal named "resume". A run
that waits for a signal already stored under state key "signal:<name>", or whose wake-up
time has passed, becomes available at once. A timed run waits in "d:<queue>" with `runAt` set
to its wake-up time; a claim moves it back to the ready set when that time comes.
]]
local run = load_run(ARGV[2])
if not run or run.state ~= 'running' or run.leaseToken ~= ARGV[3] then
  return reply(0)
end
local wake_at = opt(ARGV[4]) and tonumber(ARGV[4])
if not wake_at and opt(ARGV[5]) then
  wake_at = NOW + tonumber(ARGV[5])
end
local signal = opt(ARGV[6])
-- The event names the requested signal, not the implicit "resume".
local requested_signal = signal
if not wake_at and not signal then
  signal = 'resume'
end

leave_running(run)
run.attempt = fmt(tonumber(run.attempt) - 1)
local fields = lease_cleared({ 'attempt', run.attempt })
local details = {}
if wake_at then
  details.wakeAt = wake_at
end
if requested_signal then
  details.signal = requested_signal
end
-- cjson encodes an empty table as {}, the data of a run that waits for neither.
add_event(run, 'suspended', cjson.encode(details), true)

local signalled = signal and redis.call('HEXISTS', P .. 'st:' .. run.id, 'signal:' .. signal) == 1
if signalled or (wake_at and wake_at <= NOW) then
  add_event(run, 'resumed', nil, true)
  set_state(run, 'available', fields)
  add_ready(run)
  notify_work(run.queue)
  return reply(1)
end

if signal then
  append(fields, 'waitSignal', signal)
end
if wake_at then
  run.runAt = fmt(wake_at)
  append(fields, 'runAt', run.runAt)
  add_delayed(run, wake_at)
  notify_due(run.queue, wake_at)
end
set_state(run, 'suspended', fields)
return reply(1)
