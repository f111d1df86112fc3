--[[
Deletes old events of some types, oldest first (Storage.compactEvents).

KEYS[1]: namespace prefix. ARGV[1]: origin id (unused), ARGV[2]: cutoff time (exclusive, ms),
ARGV[3]: max events to delete, ARGV[4..]: event types, none of them a type in COMPACTION_KEPT.
Result: the number of events deleted.

Candidates come from the type indexes "evt:<type>", in sequence order, which is time order: up
to the limit from each type, merged by sequence number. A deleted entry of "ev:<id>" becomes ""
instead of leaving the list, so the positions in every index member and in run-id cursors of
listEvents stay valid; its members in "evi", "gev:<group>" and "evt:<type>" are removed.
]]
local before, limit = tonumber(ARGV[2]), tonumber(ARGV[3])

local candidates = {}
for i = 4, #ARGV do
  local key = P .. 'evt:' .. ARGV[i]
  local members = redis.call('ZRANGEBYSCORE', key, '-inf', '+inf', 'WITHSCORES', 'LIMIT', 0, limit)
  for j = 1, #members, 2 do
    candidates[#candidates + 1] = { key = key, member = members[j], seq = tonumber(members[j + 1]) }
  end
end
table.sort(candidates, function(a, b)
  return a.seq < b.seq
end)

local deleted, groups = 0, {}
for _, candidate in ipairs(candidates) do
  if deleted >= limit then
    break
  end
  local member = candidate.member
  local slash = string.find(member, '/[^/]*$')
  local id, pos = string.sub(member, 1, slash - 1), tonumber(string.sub(member, slash + 1))
  local list = P .. 'ev:' .. id
  local entry = redis.call('LINDEX', list, pos)
  local at = entry and entry ~= '' and tonumber(string.match(entry, '^[^%z]*%z([^%z]*)'))
  if not at then
    -- No event behind the member any more: drop the stale member and count nothing.
    redis.call('ZREM', candidate.key, member)
  elseif at < before then
    redis.call('LSET', list, pos, '')
    redis.call('ZREM', candidate.key, member)
    redis.call('ZREM', P .. 'evi', member)
    if groups[id] == nil then
      groups[id] = redis.call('HGET', run_key(id), 'groupId') or false
    end
    if groups[id] then
      redis.call('ZREM', P .. 'gev:' .. groups[id], member)
    end
    deleted = deleted + 1
  end
end
return deleted
