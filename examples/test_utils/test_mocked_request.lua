-- Calling a handler directly with make_mocked_request: no server, no socket,
-- the same Request type a server produces.
local web = require "luatest.web"
local test_utils = require "luatest.test_utils"

local function handler(request)
  assert(request.headers["token"] == "x")
  return web.Response { body = "data" }
end

function test_handler()
  local req = test_utils.make_mocked_request("GET", "/", { headers = { token = "x" } })
  local resp = handler(req)
  assert(resp.body == "data")
end

function test_mocked_coro_as_a_signal(aiohttp_client)
  local on_startup = test_utils.make_mocked_coro()
  local app = web.Application()
  table.insert(app.on_startup, on_startup)
  aiohttp_client(app)
  on_startup:assert_called_once_with(app)
end
