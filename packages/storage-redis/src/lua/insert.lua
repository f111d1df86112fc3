--[[
Inserts runs in one atomic step (Storage.insertRuns).

KEYS[1]: namespace prefix. ARGV[1]: origin id. ARGV[2..]: runs, encoded as lib/insert.lua
describes. Runs are inserted in order, so two runs with one unique key behave as if inserted one
after the other.
Result: {results, notification}, where results holds one {runId, created, replaced, state} per
run, in request order; or {rejection, false} when tenant admission (lib/admission.lua) rejects
the batch, in which case nothing was written.
]]
local rejection = check_admission(ARGV, 2)
if rejection then
  return { rejection, false }
end

local results, created = {}, {}
local i = 2
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
return reply(results)
