-- Sequential keep-alive GETs from a TestClient to a TestServer in one
-- process. usage: build/bench-host bench/client_seq.lua [N]
local web = require "luatest.web"
local test_utils = require "luatest.test_utils"
local core = require "luatest.core"

local n = tonumber(arg[1]) or 50000
local app = web.Application()
app.router:add_get("/", function()
  return web.Response { text = "Hello, world" }
end)
core.run_until_complete(function()
  local client = test_utils.TestClient(test_utils.TestServer(app))
  client:start_server()
  for _ = 1, 1000 do
    client:get("/")
  end
  local t0 = core.hrtime()
  for _ = 1, n do
    local resp = client:get("/")
    assert(resp.status == 200)
  end
  local dt = core.hrtime() - t0
  print(string.format("client_seq: %d requests in %.3f s: %.0f req/s", n, dt, n / dt))
  client:close()
end)
