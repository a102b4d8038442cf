-- LÖVE (LuaJIT) runs luatest's LuaJIT build from love.update, one
-- core.poll() a frame, and quits with the result (LT_SRC, LT_BUILD, LT_OUT).
local src, build, out = os.getenv("LT_SRC"), os.getenv("LT_BUILD"), os.getenv("LT_OUT")
package.cpath = build .. "/lib/?.so;" .. package.cpath
package.path = src .. "/lua/?.lua;" .. src .. "/lua/?/init.lua;" .. package.path
local core, result, frames
function love.load()
  core = require "luatest.core"
  local web = require "luatest.web"
  local test_utils = require "luatest.test_utils"
  local app = web.Application()
  app.router:add_get("/", function()
    return "served in " .. (jit and jit.version or _VERSION)
  end)
  frames = 0
  core.spawn(function()
    local client = test_utils.TestClient(test_utils.TestServer(app))
    client:start_server()
    result = client:get("/"):text()
    client:close()
  end)
end
function love.update()
  frames = frames + 1
  core.poll()
  if result and #core.open_objects() == 0 or frames > 2000 then
    local f = assert(io.open(out, "w"))
    f:write(tostring(result), " frames>1:", tostring(frames > 1), "\n")
    f:close()
    love.event.quit()
  end
end
