--[[
Moves failed or cancelled runs back to available with attempt 0 (Storage.retryRuns), appending
`retrying` with attempt 0 and data {"manual":true}.

KEYS[1]: namespace prefix. ARGV[1]: origin id. ARGV[2..]: run ids.
Result: {moved, notification}; moved is the number of runs moved. Other runs are left alone.
]]
local moved = 0
for i = 2, #ARGV do
  local run = load_run(ARGV[i])
  if run and (run.state == 'failed' or run.state == 'cancelled') then
    redis.call('ZREM', P .. 'fin:' .. run.state, run.id)
    run.attempt = '0'
    run.runAt = fmt(NOW)
    set_state(run, 'available', { 'attempt', '0', 'runAt', run.runAt, 'finishedAt', '' })
    add_event(run, 'retrying', '{"manual":true}', true)
    add_ready(run)
    notify_work(run.queue)
    moved = moved + 1
  end
end
return reply(moved)
