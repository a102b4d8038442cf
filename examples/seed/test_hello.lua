-- pytest-aiohttp's first example, in Lua.
local web = require "luatest.web"

local function hello(request)
  return web.Response { body = "Hello, world" }
end

local function create_app()
  local app = web.Application()
  app.router:add_route("GET", "/", hello)
  return app
end

function test_hello(aiohttp_client)
  local client = aiohttp_client(create_app())
  local resp = client:get("/")
  assert(resp.status == 200)
  local text = resp:text()
  assert(text:find("Hello, world", 1, true))
end
