--[[
Makes a queue fair, changes its fairness, or returns it to plain claim order
(Storage.setFairness, Storage.deleteFairness). Queued runs follow the change at once.

KEYS[1]: namespace prefix. ARGV[1]: origin id, ARGV[2]: queue, ARGV[3]: "by\0weightsJSON", or
"\0" to delete the fairness.
Result: {changed, notification}; changed is 1 when fairness was set or an existing one deleted.

See lib/ready.lua for the keys of fair queues. The ready runs move between "r:<queue>" and the
per-key sets "fq:...", and every key starts at the same virtual time.
]]
local queue = ARGV[2]
local spec_value = opt(ARGV[3])
local before = fairness(queue)
local before_by = before and before.by or nil
local new_by = spec_value and string.sub(spec_value, 1, string.find(spec_value, '\0', 1, true) - 1)

local changed = 1
if spec_value then
  redis.call('HSET', P .. 'fair', queue, spec_value)
else
  changed = redis.call('HDEL', P .. 'fair', queue)
end

if before_by ~= new_by then
  -- Collect the ready members from the old layout.
  local members = {}
  if before then
    local keys_key = P .. 'fk:' .. queue
    for _, key in ipairs(redis.call('ZRANGE', keys_key, 0, -1)) do
      local set = fair_set(queue, key)
      for _, member in ipairs(redis.call('ZRANGE', set, 0, -1)) do
        members[#members + 1] = member
      end
      redis.call('DEL', set)
    end
    redis.call('DEL', keys_key)
    redis.call('HDEL', P .. 'fv', queue)
  else
    flush_key(P .. 'r:' .. queue)
    members = redis.call('ZRANGE', P .. 'r:' .. queue, 0, -1)
    redis.call('DEL', P .. 'r:' .. queue)
  end
  -- Put them into the new layout.
  fair_any, fair_cache[queue] = nil, nil
  for _, member in ipairs(members) do
    local run = load_run(string.sub(member, 16))
    if run then
      add_ready(run)
    end
  end
end
if spec_value then
  fair_cache[queue] = nil
end
notify_work(queue)
return reply(changed)
