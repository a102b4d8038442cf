-- The framework-agnostic example: a stock lua5.4 script with no test
-- runner at all. Run it with the paths `luatest --env` prints:
--   eval "$(./luatest --env)" && lua5.4 examples/agnostic/plain.lua
local test_utils = require "luatest.test_utils"
local web = require "luatest.web"

local function create_app()
  local app = web.Application()
  app.router:add_get("/", function()
    return web.Response { text = "Hello, world" }
  end)
  return app
end

do
  local loop <close> = test_utils.loop_context()
  local app = create_app()
  local client = test_utils.TestClient(test_utils.TestServer(app), { loop = loop })
  loop:run_until_complete(function()
    client:start_server()
  end)
  loop:run_until_complete(function()
    local resp = client:get("/")
    assert(resp.status == 200)
    assert(resp:text():find("Hello, world", 1, true))
  end)
  loop:run_until_complete(function()
    client:close()
  end)
end

-- The same with loop_context(fn), which tears the loop down afterwards.
test_utils.loop_context(function(loop)
  local client = test_utils.TestClient(test_utils.TestServer(create_app()), { loop = loop })
  local text = loop:run_until_complete(function()
    client:start_server()
    local body = client:get("/"):text()
    client:close()
    return body
  end)
  assert(text == "Hello, world")
end)

print("plain lua5.4: ok")
