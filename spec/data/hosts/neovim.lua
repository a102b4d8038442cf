-- Neovim (headless, LuaJIT) runs luatest's LuaJIT build from its own loop:
-- a poll on core.backend_fd() and a timer call core.poll(); Neovim's loop
-- keeps turning meanwhile. LT_SRC, LT_BUILD: the tree and the build;
-- LT_OUT: where the result goes.
local src, build, out = os.getenv("LT_SRC"), os.getenv("LT_BUILD"), os.getenv("LT_OUT")
package.cpath = build .. "/lib/?.so;" .. package.cpath
package.path = src .. "/lua/?.lua;" .. src .. "/lua/?/init.lua;" .. package.path
local core = require "luatest.core"
local web = require "luatest.web"
local test_utils = require "luatest.test_utils"
local app = web.Application()
app.router:add_get("/", function()
  return "served in " .. (jit and jit.version or _VERSION)
end)
local result
core.spawn(function()
  local client = test_utils.TestClient(test_utils.TestServer(app))
  client:start_server()
  result = client:get("/"):text()
  client:close()
end)
local uv = vim.loop
local ticks = 0
local poll, timer = uv.new_poll(core.backend_fd()), uv.new_timer()
local function finish(text)
  poll:stop()
  timer:stop()
  local f = assert(io.open(out, "w"))
  f:write(text, "\n")
  f:close()
  vim.schedule(function() vim.cmd("qa!") end)
end
local function step()
  local ok, err = pcall(core.poll)
  if not ok then
    finish("error: " .. tostring(err))
  elseif result and #core.open_objects() == 0 then
    finish(result .. " ticks>0:" .. tostring(ticks > 0))
  end
end
poll:start("r", step)
timer:start(0, 5, function()
  ticks = ticks + 1
  step()
end)
