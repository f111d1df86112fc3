--[[
Delivers a signal (Storage.sendSignal): stores the payload as state key "signal:<name>" and
wakes the run when it is suspended waiting for that signal.

KEYS[1]: namespace prefix. ARGV[1]: origin id, ARGV[2]: run id, ARGV[3]: signal name,
ARGV[4]: payload.
Result: {outcome, notification}; outcome is 0 when the run is unknown or terminal, else 1.
]]
local run = load_run(ARGV[2])
if not run or TERMINAL[run.state] then
  return reply(0)
end
local name = ARGV[3]
redis.call('HSET', P .. 'st:' .. run.id, 'signal:' .. name, ARGV[4])
add_event(run, 'signal', '{"name":' .. cjson.encode(name) .. '}', true)
notify_signal(run.id, name)
if run.state == 'suspended' and run.waitSignal == name then
  unindex(run)
  add_event(run, 'resumed', nil, true)
  set_state(run, 'available', { 'waitSignal', '' })
  add_ready(run)
  notify_work(run.queue)
end
return reply(1)
