-- C handlers routed from Lua: `router:add_get(path, c_handler)` takes the
-- value lt_push_handler made, exactly like a Lua function.
package.cpath = "build/modules/?.so;" .. package.cpath
local hello_c = require "hello_c"
local web = require "luatest.web"

local function app_with_c_handlers()
  local app = web.Application()
  app.router:add_get("/hello/{name}", hello_c.hello)
  app.router:add_post("/echo", hello_c.echo)
  app.router:add_get("/lua", function()
    return "from Lua"
  end)
  return app
end

function test_c_handler_reads_match_info_and_query(aiohttp_client)
  local client = aiohttp_client(app_with_c_handlers())
  local resp = client:get("/hello/ada", { params = { greeting = "Hi" } })
  assert(resp.status == 200)
  assert(resp:text() == "Hi, ada")
  assert(resp.headers["X-Handler"] == "c")
  assert(resp.headers["Content-Type"] == "text/plain; charset=utf-8")
end

function test_c_and_lua_handlers_share_a_router(aiohttp_client)
  local client = aiohttp_client(app_with_c_handlers())
  assert(client:get("/lua"):text() == "from Lua")
  local resp = client:post("/echo", { data = "payload\0bytes", headers = { ["User-Agent"] = "spec" } })
  assert(resp.status == 201)
  assert(resp:text() == "POST /echo ua=spec len=13\npayload\0bytes")
end

function test_c_handler_streams_its_body(aiohttp_client)
  local app = web.Application()
  app.router:add_get("/countdown", hello_c.countdown)
  app.router:add_get("/broken", hello_c.broken)
  local client = aiohttp_client(app)
  local resp = client:get("/countdown")
  assert(resp:text() == "3...2...1...go", resp:text())
  assert(resp.headers["Transfer-Encoding"] == "chunked")
  assert(client:get("/broken").status == 500)
  assert(client:get("/countdown"):text() == "3...2...1...go")
end

function test_c_handler_streams_through_middlewares(aiohttp_client)
  local seen = {}
  local app = web.Application { middlewares = { function(request, handler)
    seen[#seen + 1] = request.path
    return handler(request)
  end } }
  app.router:add_get("/countdown", hello_c.countdown)
  local client = aiohttp_client(app)
  assert(client:get("/countdown"):text() == "3...2...1...go")
  assert(seen[1] == "/countdown")
end
