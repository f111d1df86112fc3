--[[
Writes a per-run state value (Storage.putState).

KEYS[1]: namespace prefix. ARGV[1]: origin id, ARGV[2]: run id, ARGV[3]: key, ARGV[4]: value,
ARGV[5]: "1" to write only when the key is missing, ARGV[6]: lease token that must be held, or
"\0".
Result: 1 when written, 0 otherwise (unknown run, lease not held, or key present with ifAbsent).
]]
local values = redis.call('HMGET', run_key(ARGV[2]), 'state', 'leaseToken')
if not values[1] then
  return 0
end
local token = opt(ARGV[6])
if token and (values[1] ~= 'running' or values[2] ~= token) then
  return 0
end
local key = P .. 'st:' .. ARGV[2]
if ARGV[5] == '1' then
  return redis.call('HSETNX', key, ARGV[3], ARGV[4])
end
redis.call('HSET', key, ARGV[3], ARGV[4])
return 1
