-- What every host script does: luatest's paths for the build under test
-- (LT_SRC: the tree, LT_BUILD: the build, when not the host's default),
-- then a task that serves `text` and GETs it. Returns core and a function
-- that gives the answer once the task is done and everything is closed.
return function(text)
  local src, build = os.getenv("LT_SRC"), os.getenv("LT_BUILD")
  if build then
    package.cpath = build .. "/lib/?.so;" .. package.cpath
  end
  if src then
    package.path = src .. "/lua/?.lua;" .. src .. "/lua/?/init.lua;" .. package.path
  end
  local core = require "luatest.core"
  return core, function(before_start)
    if before_start then
      before_start(core)
    end
    local web = require "luatest.web"
    local test_utils = require "luatest.test_utils"
    local app = web.Application()
    app.router:add_get("/", function()
      return text
    end)
    local result
    core.spawn(function()
      local client = test_utils.TestClient(test_utils.TestServer(app))
      client:start_server()
      result = client:get("/"):text()
      client:close()
    end)
    return function()
      if result and #core.open_objects() == 0 then
        return result
      end
    end
  end
end
