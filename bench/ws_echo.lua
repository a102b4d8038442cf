-- WebSocket echo round trips, our client and server in one process, and the
-- cost of the first ws_connect (which creates the libwebsockets context) and
-- of later ones. usage: build/bench-host bench/ws_echo.lua [N] [plain|deflate] [BYTES]
-- deflate: permessage-deflate negotiated (the client offers it, the server
-- accepts as it does by default); BYTES: the size of each text message
-- (default 16; above 16, JSON-like text that compresses as an API's does).
local web = require "luatest.web"
local test_utils = require "luatest.test_utils"
local core = require "luatest.core"

local n = tonumber(arg[1]) or 10000
local mode = arg[2] or "plain"
assert(mode == "plain" or mode == "deflate", "ws_echo: mode must be plain or deflate")
local size = tonumber(arg[3]) or 16
local payload = "0123456789abcdef"
if size > 16 then
  local parts, i = {}, 0
  while #table.concat(parts) < size do
    i = i + 1
    parts[#parts + 1] = string.format('{"id":%d,"name":"item %d","tags":["a","b"],"ok":true},', i, i * 7)
  end
  payload = table.concat(parts):sub(1, size)
end
local ws_opts = { compress = mode == "deflate" }
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
  local ws = client:ws_connect("/echo", ws_opts)
  assert((ws.compress and true or false) == ws_opts.compress, "ws_echo: compression was not negotiated as asked")
  local first = core.hrtime() - t0
  t0 = core.hrtime()
  local later_ws = {}
  for i = 1, 20 do
    later_ws[i] = client:ws_connect("/echo", ws_opts)
  end
  local later = (core.hrtime() - t0) / 20
  for _, w in ipairs(later_ws) do
    w:close()
  end
  t0 = core.hrtime()
  for _ = 1, n do
    ws:send_str(payload)
    assert(ws:receive().data == payload)
  end
  local dt = core.hrtime() - t0
  print(string.format("ws_echo: %d round trips in %.3f s: %.0f msg/s (%s, %d bytes); first ws_connect %.2f ms, later %.2f ms",
    n, dt, n / dt, mode, #payload, first * 1000, later * 1000))
  ws:close()
  client:close()
end)
