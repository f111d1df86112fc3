--[[
Adds events written before the type indexes existed to "evt:<type>" (run by migrate, once per
namespace). Idempotent: a member already indexed is written again with the same score.

KEYS[1]: namespace prefix. ARGV[1]: origin id (unused), ARGV[2]: sequence number to continue
after, or "\0" to start, ARGV[3]: max events to examine in this call.
Result: the sequence number to continue after, or false when every event was examined.
]]
local after = opt(ARGV[2]) and ('(' .. ARGV[2]) or '-inf'
local batch = tonumber(ARGV[3])
local members = redis.call('ZRANGEBYSCORE', P .. 'evi', after, '+inf', 'WITHSCORES', 'LIMIT', 0,
  batch)
for i = 1, #members, 2 do
  local member = members[i]
  local slash = string.find(member, '/[^/]*$')
  local entry = redis.call('LINDEX', P .. 'ev:' .. string.sub(member, 1, slash - 1),
    tonumber(string.sub(member, slash + 1)))
  local type = entry and string.match(entry, '^[^%z]*%z[^%z]*%z[^%z]*%z([^%z]*)')
  if type and not COMPACTION_KEPT[type] then
    redis.call('ZADD', P .. 'evt:' .. type, members[i + 1], member)
  end
end
if #members < batch * 2 then
  return false
end
return members[#members]
