--[[
Reads schedules (Storage.listSchedules and Storage.dueSchedules). Writes only to repair entries
that a process of a release before data layout version 2 wrote (see lib/schedule-keys.lua).

KEYS[1]: namespace prefix. ARGV[1]: origin id (unused), ARGV[2]: "all" for every schedule,
"tenant" for the schedules of tenant ARGV[3], or "due" for schedules not paused whose
nextFireAt has been reached, oldest first, at most ARGV[3] of them.
Result: {schedules, reports}. Schedules holds one flat field/value list of the hash
"sc:<member>" per schedule (see schedule-upsert.lua for the members). Reports holds {member,
new member} per version 1 entry moved to version 2, and {member, false} per entry skipped
because it is neither.
]]
local mode = ARGV[2]
local members
if mode == 'due' then
  members = redis.call('ZRANGEBYSCORE', P .. 'scd', '-inf', NOW, 'LIMIT', 0, tonumber(ARGV[3]))
elseif mode == 'tenant' then
  -- "0" follows "/", so the range contains exactly the members that start with "<tenant>/".
  members = redis.call('ZRANGEBYLEX', P .. 'scn', '[' .. ARGV[3] .. '/', '(' .. ARGV[3] .. '0')
else
  members = redis.call('ZRANGE', P .. 'scn', 0, -1)
end

-- A moved entry may land on a member listed before or after it, so schedules are collected by
-- member, in the order first seen, and filtered once every entry is in its final place.
local order, flats, reports = {}, {}, {}
for _, listed in ipairs(members) do
  local member, flat = normalize_schedule(listed, reports)
  if member then
    if not flats[member] then
      order[#order + 1] = member
    end
    flats[member] = flat
  end
end

local result = {}
for _, member in ipairs(order) do
  local fields = fields_of(flats[member])
  local keep
  if mode == 'due' then
    keep = fields.paused == '0' and fields.nextFireAt ~= nil and tonumber(fields.nextFireAt) <= NOW
  elseif mode == 'tenant' then
    keep = fields.tenantId == ARGV[3]
  else
    keep = true
  end
  if keep then
    result[#result + 1] = flats[member]
  end
end
return { result, reports }
