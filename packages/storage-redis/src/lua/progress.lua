--[[
Stores progress on a running run and appends a `progress` event (Storage.setProgress).

KEYS[1]: namespace prefix. ARGV[1]: origin id, ARGV[2]: run id, ARGV[3]: lease token,
ARGV[4]: serialized progress.
Result: {outcome, false}; outcome is 1 when stored, 0 when the lease is not held.
]]
local run = load_run(ARGV[2])
if not run or run.state ~= 'running' or run.leaseToken ~= ARGV[3] then
  return reply(0)
end
redis.call('HSET', run_key(run.id), 'progress', ARGV[4])
add_event(run, 'progress', ARGV[4], true)
return reply(1)
