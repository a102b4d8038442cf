-- What the resource specs measure of this process, and waiting on a
-- condition (never a fixed sleep).
local core = require "luatest.core"

local M = {}

function M.rss_kb()
  local f = assert(io.open("/proc/self/status"))
  local kb = tonumber(f:read("*a"):match("VmRSS:%s*(%d+)"))
  f:close()
  return kb
end

function M.open_descriptors()
  local n = 0
  for _ in pairs(assert(core.listdir("/proc/self/fd"))) do
    n = n + 1
  end
  return n
end

--- Polls cond() every 10 ms for up to `seconds` (5); an error naming
--- `what` when it stays false.
function M.wait_for(cond, what, seconds)
  for _ = 1, (seconds or 5) * 100 do
    if cond() then
      return
    end
    core.sleep(0.01)
  end
  error("waited " .. (seconds or 5) .. " s for " .. what, 2)
end

return M
