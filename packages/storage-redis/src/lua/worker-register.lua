--[[
Records or refreshes a worker (Storage.registerWorker) and forgets workers unseen for a day.

KEYS[1]: namespace prefix. ARGV[1]: origin id, ARGV[2]: worker id, ARGV[3]: hostname, ARGV[4]:
pid, ARGV[5]: queues as a JSON array, ARGV[6]: concurrency.
Result: 1.

Each worker is a hash "wk:<id>"; "wks" scores worker ids by lastSeenAt.
]]
local FORGET_AFTER_MS = 86400000
local key = P .. 'wk:' .. ARGV[2]
redis.call('HSET', key, 'hostname', ARGV[3], 'pid', ARGV[4], 'queues', ARGV[5],
  'concurrency', ARGV[6], 'lastSeenAt', fmt(NOW))
redis.call('HSETNX', key, 'startedAt', fmt(NOW))
redis.call('ZADD', P .. 'wks', NOW, ARGV[2])
local stale = redis.call('ZRANGEBYSCORE', P .. 'wks', '-inf', NOW - FORGET_AFTER_MS)
for _, id in ipairs(stale) do
  redis.call('DEL', P .. 'wk:' .. id)
  redis.call('ZREM', P .. 'wks', id)
end
return 1
