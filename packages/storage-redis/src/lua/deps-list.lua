--[[
Lists a run's parents with each edge's outcome and the parent's state (Storage.listDependencies).
Read-only.

KEYS[1]: namespace prefix. ARGV[1]: origin id (unused), ARGV[2]: run id.
Result: one {parentId, condition, passOutput ("1"/"0"), satisfied ("", "1" or "0"), parentState}
per edge, in the order the dependencies were given. Edges to runs that do not exist (never did,
or were purged) are left out.
]]
local flat = redis.call('HGETALL', P .. 'deps:' .. ARGV[2])
local edges = {}
for i = 1, #flat, 2 do
  edges[#edges + 1] = { tonumber(flat[i]), flat[i + 1] }
end
table.sort(edges, function(a, b)
  return a[1] < b[1]
end)
local result = {}
for _, edge in ipairs(edges) do
  local parts = split(edge[2], '\0')
  local parent_state = redis.call('HGET', run_key(parts[4]), 'state')
  if parent_state then
    result[#result + 1] = { parts[4], parts[1], parts[2], parts[3], parent_state }
  end
end
return result
