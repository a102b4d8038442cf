-- A fixture that builds the client, and tests that share it (the `cli`
-- example of pytest-aiohttp).
local luatest = require "luatest"
local web = require "luatest.web"

local value = web.AppKey("value")

local function previous(request)
  if request.method == "POST" then
    request.app[value] = request:post()["value"]
    return web.Response { body = "thanks for the data" }
  end
  return web.Response { body = "value: " .. request.app[value] }
end

luatest.fixture("cli", function(loop, aiohttp_client)
  local app = web.Application()
  app.router:add_get("/", previous)
  app.router:add_post("/", previous)
  return aiohttp_client(app)
end)

function test_set_value(cli)
  local resp = cli:post("/", { data = { value = "foo" } })
  assert(resp.status == 200)
  assert(resp:text() == "thanks for the data")
  assert(cli.server.app[value] == "foo")
end

function test_get_value(cli)
  cli.server.app[value] = "bar"
  local resp = cli:get("/")
  assert(resp.status == 200)
  assert(resp:text() == "value: bar")
end
