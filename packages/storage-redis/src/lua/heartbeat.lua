--[[
Extends leases (Storage.heartbeat).

KEYS[1]: namespace prefix. ARGV[1]: origin id, ARGV[2]: lease length in ms,
ARGV[3..]: pairs (runId, leaseToken).
Result: {lost, false}; lost lists the run ids whose lease is no longer held.
]]
local lease_ms = tonumber(ARGV[2])
local expires = NOW + lease_ms
local lost = {}
for i = 3, #ARGV, 2 do
  local id = ARGV[i]
  local values = redis.call('HMGET', run_key(id), 'state', 'leaseToken')
  if values[1] == 'running' and values[2] == ARGV[i + 1] then
    redis.call('HSET', run_key(id), 'leaseExpiresAt', fmt(expires))
    zadd(P .. 'leases', expires, id)
  else
    lost[#lost + 1] = id
  end
end
return reply(lost)
