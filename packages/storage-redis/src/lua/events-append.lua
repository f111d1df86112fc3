--[[
Appends events that core or plugins record (Storage.appendEvents).

KEYS[1]: namespace prefix. ARGV[1]: origin id. ARGV[2..]: quadruples (runId, type, data,
attempt), where data and attempt are "\0" when absent. Events of unknown runs are skipped.
Result: the number of events appended.
]]
local appended = 0
local runs = {}
for i = 2, #ARGV, 4 do
  local id = ARGV[i]
  local run = runs[id]
  if run == nil then
    run = load_run(id) or false
    runs[id] = run
  end
  if run then
    add_event(run, ARGV[i + 1], opt(ARGV[i + 2]), false, opt(ARGV[i + 3]))
    appended = appended + 1
  end
end
flush()
return appended
