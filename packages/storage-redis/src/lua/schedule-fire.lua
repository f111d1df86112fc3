--[[
Fires one schedule occurrence with compare-and-set on nextFireAt (Storage.fireSchedule), and
inserts its runs in the same atomic step, admitted and counted against their tenants' quotas
as insert.lua does.

KEYS[1]: namespace prefix. ARGV[1]: origin id, ARGV[2]: tenant id or "\0" for none, ARGV[3]:
name, ARGV[4]: expected nextFireAt, ARGV[5]: new nextFireAt or "\0" when the schedule never
fires again, ARGV[6]: lastFireAt, ARGV[7..]: runs, encoded as lib/insert.lua describes.
Result: {{fired (1/0), results}, notification}; results holds one {runId, created, replaced,
state} per run, and is empty when not fired. Or {rejection, false} when tenant admission
(lib/admission.lua) rejects the runs, in which case nothing was written.
]]
local FIRST_RUN = 7
local member = (opt(ARGV[2]) or '') .. '/' .. ARGV[3]
local key = P .. 'sc:' .. member
local stored = redis.call('HGET', key, 'nextFireAt')
if not stored or tonumber(stored) ~= tonumber(ARGV[4]) then
  return reply({ 0, {} })
end
local rejection = check_admission(ARGV, FIRST_RUN)
if rejection then
  return { rejection, false }
end

redis.call('HSET', key, 'lastFireAt', ARGV[6], 'updatedAt', fmt(NOW))
local next_fire_at = opt(ARGV[5])
if next_fire_at then
  redis.call('HSET', key, 'nextFireAt', next_fire_at)
else
  redis.call('HDEL', key, 'nextFireAt')
end
if next_fire_at and redis.call('HGET', key, 'paused') == '0' then
  redis.call('ZADD', P .. 'scd', next_fire_at, member)
else
  redis.call('ZREM', P .. 'scd', member)
end

local results, created = {}, {}
local i = FIRST_RUN
while i <= #ARGV do
  local tenant = opt(ARGV[i + 14])
  local result
  result, i = insert_run(ARGV, i)
  results[#results + 1] = result
  if tenant and result[2] == 1 then
    created[tenant] = (created[tenant] or 0) + 1
  end
end
count_windows(created)
return reply({ 1, results })
