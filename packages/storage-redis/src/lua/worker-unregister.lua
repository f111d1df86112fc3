--[[
Removes a worker from the registry (Storage.unregisterWorker).

KEYS[1]: namespace prefix. ARGV[1]: origin id, ARGV[2]: worker id.
Result: 1 when the worker was registered, else 0.
]]
redis.call('ZREM', P .. 'wks', ARGV[2])
return redis.call('DEL', P .. 'wk:' .. ARGV[2])
