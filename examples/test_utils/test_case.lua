-- aiohttp's AioHTTPTestCase example, in Lua: a class whose test_* methods
-- each get a fresh app, server and client (self.app, self.server,
-- self.client), discovered by the runner when assigned to a global.
local web = require "luatest.web"
local AioHTTPTestCase = require("luatest.test_utils").AioHTTPTestCase

MyAppTestCase = AioHTTPTestCase:extend("MyAppTestCase")

function MyAppTestCase:get_application()
  local function hello(request)
    return web.Response { text = "Hello, world" }
  end
  local app = web.Application()
  app.router:add_get("/", hello)
  return app
end

function MyAppTestCase:setup()
  self.visits = 0 -- runs after the client started
end

function MyAppTestCase:test_example()
  local resp = self.client:request("GET", "/")
  assert(resp.status == 200)
  local text = resp:text()
  assert(text:find("Hello, world", 1, true))
end

function MyAppTestCase:test_fresh_state_per_test()
  assert(self.visits == 0)
  self.visits = self.visits + 1
  assert(self.server.app == self.app)
  assert(self.client:get("/missing").status == 404)
end
