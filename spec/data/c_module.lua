-- A C handler module (examples/c_handler/hello_c.c, built against the
-- installed luatest.pc) serving HTTP and a WebSocket, from a plain script:
-- run by a stock lua5.4 and by an embedding host.
local core = require "luatest.core"
local hello_c = require "hello_c"
local web = require "luatest.web"
local test_utils = require "luatest.test_utils"

local app = web.Application()
app.router:add_get("/hello/{name}", hello_c.hello)
app.router:add_get("/ws", hello_c.ws_echo)
print(core.run_until_complete(function()
  local client = test_utils.TestClient(test_utils.TestServer(app))
  client:start_server()
  local text = client:get("/hello/ada"):text()
  local ws = client:ws_connect("/ws", { protocols = { "echo" } })
  local greeting = ws:receive().data
  ws:send_str("over the wire")
  local echo = ws:receive().data
  ws:close()
  client:close()
  return text .. " | " .. greeting .. " | " .. echo
end))
