--[[
Creates or updates a schedule (Storage.upsertSchedule).

KEYS[1]: namespace prefix. ARGV[1]: origin id, ARGV[2]: name, ARGV[3]: job, ARGV[4]: input,
ARGV[5]: cron, ARGV[6]: intervalMs, ARGV[7]: timezone, ARGV[8]: options, ARGV[9]: tenantId,
ARGV[10]: nextFireAt, ARGV[11]: "1" to overwrite a stored nextFireAt, ARGV[12]: paused ("1",
"0") for a new schedule. Optional values are "\0" when absent.
Result: the schedule hash as a flat field/value list.

A schedule is keyed by its tenant and its name: its member is "<tenantId>/<name>", or "/<name>"
without a tenant (tenant ids contain no "/"), and its hash is "sc:<member>". "scn" indexes the
members with score 0, so a tenant's schedules are one lexicographic range; "scd" holds schedules
that are not paused, scored by nextFireAt.
]]
local name = ARGV[2]
local member = (opt(ARGV[9]) or '') .. '/' .. name
local key = P .. 'sc:' .. member
local exists = redis.call('EXISTS', key) == 1
redis.call('HSET', key, 'name', name, 'job', ARGV[3], 'input', ARGV[4], 'options', ARGV[8],
  'updatedAt', fmt(NOW))
local optional = { cron = ARGV[5], intervalMs = ARGV[6], timezone = ARGV[7], tenantId = ARGV[9] }
for field, value in pairs(optional) do
  if opt(value) then
    redis.call('HSET', key, field, value)
  else
    redis.call('HDEL', key, field)
  end
end
if not exists then
  redis.call('HSET', key, 'createdAt', fmt(NOW), 'paused', opt(ARGV[12]) or '0')
end
if not exists or ARGV[11] == '1' then
  if opt(ARGV[10]) then
    redis.call('HSET', key, 'nextFireAt', ARGV[10])
  else
    redis.call('HDEL', key, 'nextFireAt')
  end
end
local state = redis.call('HMGET', key, 'paused', 'nextFireAt')
if state[1] == '0' and state[2] then
  redis.call('ZADD', P .. 'scd', state[2], member)
else
  redis.call('ZREM', P .. 'scd', member)
end
redis.call('ZADD', P .. 'scn', 0, member)
return redis.call('HGETALL', key)
