-- A hello server for wrk, run by build/bench-host (an embedding host).
-- usage: build/bench-host bench/hello_server.lua PORT SECONDS [lua|c] [http|https]
local web = require "luatest.web"
local test_utils = require "luatest.test_utils"
local core = require "luatest.core"

local port, seconds, kind = tonumber(arg[1]) or 8080, tonumber(arg[2]) or 10, arg[3] or "lua"
local scheme = arg[4] or "http"
local app = web.Application()
if kind == "c" then
  package.cpath = "build/modules/?.so;" .. package.cpath
  app.router:add_get("/", require("hello_c").hello_world)
else
  app.router:add_get("/", function()
    return web.Response { text = "Hello, world" }
  end)
end
core.run_until_complete(function()
  local server = test_utils.TestServer(app, { port = port, scheme = scheme })
  server:start_server()
  io.stdout:write("listening ", server.port, "\n")
  io.stdout:flush()
  core.sleep(seconds)
  server:close()
end)
