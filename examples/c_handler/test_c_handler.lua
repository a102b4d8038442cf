-- C handlers routed from Lua: `router:add_get(path, c_handler)` takes the
-- value lt_push_handler made, exactly like a Lua function.
-- The C modules of the build that runs this (LUATEST_MODULES: another
-- runtime's build, as `make test` sets it).
package.cpath = (os.getenv("LUATEST_MODULES") or "build/modules") .. "/?.so;" .. package.cpath
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

function test_c_handler_accepts_a_websocket_and_echoes(aiohttp_client)
  local app = web.Application()
  app.router:add_get("/ws", hello_c.ws_echo)
  local client = aiohttp_client(app)
  local ws = client:ws_connect("/ws", { protocols = { "echo" } })
  assert(ws.protocol == "echo")
  assert(ws:receive(5).data == "hello from C")
  ws:send_str("ping me")
  assert(ws:receive(5).data == "C got ping me")
  ws:send_bytes("\0\1\2\255")
  local msg = ws:receive(5)
  assert(msg.type == "binary" and msg.data == "\0\1\2\255")
  assert(ws:close { code = 4000 } == true)
  assert(ws.close_code == 4000)
  -- The C side can close too, and a plain GET gets aiohttp's 400.
  ws = client:ws_connect("/ws")
  ws:receive(5)
  ws:send_str("close please")
  msg = ws:receive(5)
  assert(msg.type == "close" and msg.data == 4002 and msg.extra == "C says bye", tostring(msg.data))
  local resp = client:get("/ws")
  assert(resp.status == 400 and resp:text():find("No WebSocket UPGRADE hdr", 1, true))
end
