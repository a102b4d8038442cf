-- WebSocket echo round trips, our client and server in one process, and the
-- cost of the first ws_connect (which creates the libwebsockets context) and
-- of later ones. usage: build/bench-host bench/ws_echo.lua [N]
local web = require "luatest.web"
local test_utils = require "luatest.test_utils"
local core = require "luatest.core"

local n = tonumber(arg[1]) or 10000
local app = web.Application()
app.router:add_get("/echo", function(request)
  local ws = web.WebSocketResponse()
  ws:prepare(request)
  for msg in ws:messages() do
    ws:send_str(msg.data)
  end
  return ws
end)
core.run_until_complete(function()
  local client = test_utils.TestClient(test_utils.TestServer(app))
  client:start_server()
  local t0 = core.hrtime()
  local ws = client:ws_connect("/echo")
  local first = core.hrtime() - t0
  t0 = core.hrtime()
  local later_ws = {}
  for i = 1, 20 do
    later_ws[i] = client:ws_connect("/echo")
  end
  local later = (core.hrtime() - t0) / 20
  for _, w in ipairs(later_ws) do
    w:close()
  end
  local payload = "0123456789abcdef"
  t0 = core.hrtime()
  for _ = 1, n do
    ws:send_str(payload)
    assert(ws:receive().data == payload)
  end
  local dt = core.hrtime() - t0
  print(string.format("ws_echo: %d round trips in %.3f s: %.0f msg/s; first ws_connect %.2f ms, later %.2f ms",
    n, dt, n / dt, first * 1000, later * 1000))
  ws:close()
  client:close()
end)
