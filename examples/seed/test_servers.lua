-- aiohttp_server, aiohttp_raw_server with aiohttp_client, and
-- aiohttp_unused_port passed on as server_kwargs.
local web = require "luatest.web"

function test_aiohttp_server(aiohttp_server, aiohttp_client)
  local app = web.Application()
  app.router:add_get("/", function()
    return "from the app"
  end)
  local server = aiohttp_server(app)
  assert(server.started and server.port > 0)
  local client = aiohttp_client(server)
  assert(client:get("/"):text() == "from the app")
end

function test_raw_server(aiohttp_raw_server, aiohttp_client)
  local function handler(request)
    return web.Response { text = "OK" }
  end
  local raw_server = aiohttp_raw_server(handler)
  local client = aiohttp_client(raw_server)
  local resp = client:get("/")
  assert(resp.status == 200)
  assert(resp:text() == "OK")
end

function test_unused_port(aiohttp_client, aiohttp_unused_port)
  local port = aiohttp_unused_port()
  local app = web.Application()
  app.router:add_get("/", function()
    return "on a chosen port"
  end)
  local client = aiohttp_client(app, { server_kwargs = { port = port } })
  assert(client.port == port)
  assert(client:get("/"):text() == "on a chosen port")
end
