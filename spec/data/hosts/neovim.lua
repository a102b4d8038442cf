-- Neovim (headless, LuaJIT) runs luatest's LuaJIT build from its own loop:
-- a poll on core.backend_fd() and a timer call core.poll(); Neovim's loop
-- keeps turning meanwhile. LT_OUT: where the result goes.
local exchange = dofile(os.getenv("LT_SRC") .. "/spec/data/hosts/exchange.lua")
local core, start = exchange("served in " .. (jit and jit.version or _VERSION))
local answer = start()
local uv = vim.loop
local ticks = 0
local poll, timer = uv.new_poll(core.backend_fd()), uv.new_timer()
local function finish(text)
  poll:stop()
  timer:stop()
  local f = assert(io.open(os.getenv("LT_OUT"), "w"))
  f:write(text, "\n")
  f:close()
  vim.schedule(function()
    vim.cmd("qa!")
  end)
end
local function step()
  local ok, err = pcall(core.poll)
  if not ok then
    finish("error: " .. tostring(err))
  elseif answer() then
    finish(answer() .. " ticks>0:" .. tostring(ticks > 0))
  end
end
poll:start("r", step)
timer:start(0, 5, function()
  ticks = ticks + 1
  step()
end)
