--[[
Lists events oldest first with filters and pagination (Storage.listEvents). Read-only.

KEYS[1]: namespace prefix. ARGV[1]: origin id (unused), ARGV[2]: page size, ARGV[3]: cursor or
"\0", ARGV[4]: run id or "\0", ARGV[5]: group id or "\0", ARGV[6]: since (inclusive, ms) or "\0",
ARGV[7]: until (exclusive, ms) or "\0", ARGV[8]: tenant id or "\0", ARGV[9..]: event types
(none: every type).
Result: {events, nextCursor}; events holds {runId, groupId or false, tenantId or false, entry}
per event, where entry is the stored "seq\0at\0attempt\0type[\0data]"; nextCursor is false on
the last page.

With a run id the run's list "ev:<id>" is read from the position in the cursor ("p<pos>").
Otherwise the sequence index of the group ("gev:<group>") or of all events ("evi") is read from
the sequence number in the cursor ("s<seq>").
]]
-- NOTE: a page stops after examining this many events that fail the filters. Such a page has
-- fewer events than requested and a cursor to continue from.
local EXAMINE_MAX = 5000
local FETCH = 200

local limit = tonumber(ARGV[2])
local cursor = opt(ARGV[3])
local run_id, group = opt(ARGV[4]), opt(ARGV[5])
local since, before = tonumber(opt(ARGV[6]) or ''), tonumber(opt(ARGV[7]) or '')
local tenant = opt(ARGV[8])
local types = nil
for i = 9, #ARGV do
  types = types or {}
  types[ARGV[i]] = true
end

local run_info = {}
local function info(id)
  local cached = run_info[id]
  if cached == nil then
    local v = redis.call('HMGET', run_key(id), 'groupId', 'tenantId')
    cached = { v[1], v[2] }
    run_info[id] = cached
  end
  return cached
end

local function matches(entry, id)
  -- "" is an entry that compaction deleted.
  if entry == '' then
    return false
  end
  local parts = split(entry, '\0')
  local at = tonumber(parts[2])
  if since and at < since then
    return false
  end
  if before and at >= before then
    return false
  end
  if types and not types[parts[4]] then
    return false
  end
  if tenant and info(id)[2] ~= tenant then
    return false
  end
  return not group or info(id)[1] == group
end

local events, misses = {}, 0
local function take(id, entry)
  local meta = info(id)
  events[#events + 1] = { id, meta[1], meta[2], entry }
end

if run_id then
  local key = P .. 'ev:' .. run_id
  local pos = cursor and (tonumber(string.sub(cursor, 2)) + 1) or 0
  while true do
    local entries = redis.call('LRANGE', key, pos, pos + FETCH - 1)
    for i, entry in ipairs(entries) do
      local here = pos + i - 1
      if matches(entry, run_id) then
        if #events == limit then
          return { events, 'p' .. (here - 1) }
        end
        take(run_id, entry)
        misses = 0
      else
        misses = misses + 1
        if misses >= EXAMINE_MAX then
          return { events, 'p' .. here }
        end
      end
    end
    if #entries < FETCH then
      return { events, false }
    end
    pos = pos + FETCH
  end
end

local index = group and (P .. 'gev:' .. group) or (P .. 'evi')
local after = cursor and ('(' .. string.sub(cursor, 2)) or '-inf'
local previous = cursor and string.sub(cursor, 2)
while true do
  local members = redis.call('ZRANGEBYSCORE', index, after, '+inf', 'WITHSCORES', 'LIMIT', 0,
    FETCH)
  for i = 1, #members, 2 do
    local member, seq = members[i], members[i + 1]
    local slash = string.find(member, '/[^/]*$')
    local id = string.sub(member, 1, slash - 1)
    local entry = redis.call('LINDEX', P .. 'ev:' .. id, tonumber(string.sub(member, slash + 1)))
    if entry and matches(entry, id) then
      if #events == limit then
        return { events, 's' .. previous }
      end
      take(id, entry)
      misses = 0
    else
      misses = misses + 1
      if misses >= EXAMINE_MAX then
        return { events, 's' .. seq }
      end
    end
    previous = seq
  end
  if #members < FETCH * 2 then
    return { events, false }
  end
  after = '(' .. members[#members]
end
