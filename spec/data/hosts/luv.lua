-- A Lua 5.4 host built on lua-luv: luatest runs on luv's own loop
-- (core.use_uv_loop(core.luv_loop())), and the host's uv.run() drives both.
local uv = require "luv"
local exchange = dofile(os.getenv("LT_SRC") .. "/spec/data/hosts/exchange.lua")
local _, start = exchange("served on luv's loop")
local answer = start(function(core)
  assert(core.use_uv_loop(assert(core.luv_loop())) == nil)
end)
-- A peer that left must not end the process: the host ignores SIGPIPE.
local sigpipe = uv.new_signal()
sigpipe:start("sigpipe", function() end)
local ticks = 0
local timer = uv.new_timer()
timer:start(1, 1, function()
  ticks = ticks + 1
  if answer() then
    timer:close()
    sigpipe:close()
  end
end)
uv.run()
print(answer(), ticks > 0, uv.version_string())
