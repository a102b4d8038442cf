-- A Lua 5.4 host built on lua-luv: luatest runs on luv's own loop
-- (core.use_uv_loop(core.luv_loop())), and the host's uv.run() drives both.
local uv = require "luv"
local core = require "luatest.core"
assert(core.use_uv_loop(assert(core.luv_loop())) == nil)
local web = require "luatest.web"
local test_utils = require "luatest.test_utils"
local app = web.Application()
app.router:add_get("/", function() return "served on luv's loop" end)
-- A peer that left must not end the process: the host ignores SIGPIPE.
local sigpipe = uv.new_signal()
sigpipe:start("sigpipe", function() end)
local result, ticks = nil, 0
core.spawn(function()
  local client = test_utils.TestClient(test_utils.TestServer(app))
  client:start_server()
  result = client:get("/"):text()
  client:close()
end)
local timer = uv.new_timer()
timer:start(1, 1, function()
  ticks = ticks + 1
  if result and #core.open_objects() == 0 then
    timer:close()
    sigpipe:close()
  end
end)
uv.run()
print(result, ticks > 0, uv.version_string())
