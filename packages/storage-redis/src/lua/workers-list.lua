--[[
Lists workers seen recently (Storage.listWorkers). Read-only.

KEYS[1]: namespace prefix. ARGV[1]: origin id (unused), ARGV[2]: seen within this many ms.
Result: one {workerId, flat field/value list of "wk:<id>"} per worker, oldest seen first.
]]
local ids = redis.call('ZRANGEBYSCORE', P .. 'wks', NOW - tonumber(ARGV[2]), '+inf')
local result = {}
for _, id in ipairs(ids) do
  local flat = redis.call('HGETALL', P .. 'wk:' .. id)
  if #flat > 0 then
    result[#result + 1] = { id, flat }
  end
end
return result
