local luatest = require "luatest"
local web = luatest.web
local test_utils = luatest.test_utils

local function app()
  local a = web.Application()
  a.router:add_get("/", function() return "hi" end)
  a.router:add_get("/boom", function() error("handler boom") end)
  return a
end

function test_client(aiohttp_client)
  local client = aiohttp_client(app())
  luatest.eq(client:get("/"):text(), "hi")
end

function test_server_then_client(aiohttp_server, aiohttp_client)
  local server = aiohttp_server(app())
  local client = aiohttp_client(server)
  luatest.eq(client:get("/").status, 200)
end

function test_bad_arg(aiohttp_client)
  aiohttp_client(42)
end

function test_leak()
  local server = test_utils.TestServer(app())
  server:start_server()
end

function test_handler_error(aiohttp_client)
  local client = aiohttp_client(app())
  luatest.eq(client:get("/boom").status, 200)
end

function test_raw(aiohttp_raw_server, aiohttp_client, aiohttp_unused_port)
  local server = aiohttp_raw_server(function() return web.Response { text = "raw" } end)
  local client = aiohttp_client(server)
  luatest.eq(client:get("/x"):text(), "raw")
  assert(type(aiohttp_unused_port()) == "number")
end

luatest.fixture("recorder", function()
  local log = {}
  return log, function()
    io.stdout:write("CLOSED<", table.concat(log, ","), ">\n")
  end
end)

function test_close_order(recorder, aiohttp_server, aiohttp_client)
  local s1 = aiohttp_server(app())
  local c1 = aiohttp_client(s1)
  local c2 = aiohttp_client(app(), { server_kwargs = {} })
  local s2 = c2.server
  for name, obj in pairs { c1 = c1, c2 = c2, s1 = s1, s2 = s2 } do
    local close = obj.close
    local seen = false
    obj.close = function(self)
      if not seen then
        seen = true
        recorder[#recorder + 1] = name
      end
      return close(self)
    end
  end
end
