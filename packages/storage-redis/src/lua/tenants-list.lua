--[[
Lists tenants by id, ascending (Storage.listTenants). Read-only.

KEYS[1]: namespace prefix. ARGV[1]: origin id (unused), ARGV[2]: page size, ARGV[3]: cursor (the
last id of the previous page) or "\0", ARGV[4]: status filter or "\0".
Result: {tenants, nextCursor}; tenants holds one flat field/value list of "tn:<id>" per tenant,
nextCursor is false on the last page.
]]
local limit = tonumber(ARGV[2])
local after = opt(ARGV[3]) and ('(' .. ARGV[3]) or '-'
local status = opt(ARGV[4])
local tenants, last = {}, nil
while true do
  local ids = redis.call('ZRANGEBYLEX', P .. 'tnn', after, '+', 'LIMIT', 0, 200)
  for _, id in ipairs(ids) do
    local flat = redis.call('HGETALL', P .. 'tn:' .. id)
    local matches = #flat > 0
    if matches and status then
      matches = redis.call('HGET', P .. 'tn:' .. id, 'status') == status
    end
    if matches then
      if #tenants == limit then
        return { tenants, last }
      end
      tenants[#tenants + 1] = flat
    end
    last = id
  end
  if #ids < 200 then
    return { tenants, false }
  end
  after = '(' .. ids[#ids]
end
