-- Real hosts run luatest from their own loops: Neovim and LÖVE (both
-- LuaJIT, with the tree's LuaJIT build) and a Lua 5.4 host on lua-luv.
local luatest = require "luatest"
local core = require "luatest.core"

local SRC = core.srcdir
local LUAJIT_BUILD = os.getenv("LUATEST_LUAJIT_BUILD") or SRC .. "/build-luajit"

local function need_luajit_build()
  assert(core.stat(LUAJIT_BUILD .. "/lib/luatest/core.so"),
    "no LuaJIT build in " .. LUAJIT_BUILD .. " (make LUA=luajit all)")
end

local function run_host(argv, out)
  local env = string.format("LT_SRC=%q LT_BUILD=%q LT_OUT=%q", SRC, LUAJIT_BUILD, out)
  local words = {}
  for i, w in ipairs(argv) do
    words[i] = string.format("%q", w)
  end
  local r = assert(core.exec({ "sh", "-c", env .. " exec " .. table.concat(words, " ") }, { timeout = 60 }))
  local f = io.open(out)
  local text = f and f:read("*a") or ""
  if f then
    f:close()
  end
  os.remove(out)
  return r, text
end

function test_neovim_serves_and_fetches_from_its_own_loop()
  need_luajit_build()
  local r, text = run_host({ "nvim", "--headless", "-u", "NONE", "-i", "NONE", "-n", "-c",
    "luafile " .. SRC .. "/spec/data/hosts/neovim.lua" }, os.tmpname())
  luatest.eq(r.status, 0, r.stderr)
  luatest.match(text, "^served in LuaJIT 2%.1[^\n]* ticks>0:true\n$")
end

function test_love_serves_and_fetches_from_love_update()
  need_luajit_build()
  local r, text = run_host({ "xvfb-run", "-a", "love", SRC .. "/spec/data/hosts/love" }, os.tmpname())
  luatest.eq(r.status, 0, r.stdout .. r.stderr)
  luatest.eq(text, "served in LuaJIT 2.1.0-beta3 frames>1:true\n")
end

function test_a_luv_host_shares_its_uv_loop_with_luatest()
  local r = assert(core.exec({ "sh", "-c", string.format(
    "LT_SRC=%q LUA_PATH='%s/lua/?.lua;%s/lua/?/init.lua;;' LUA_CPATH='%s/lib/?.so;;' lua5.4 %s/spec/data/hosts/luv.lua",
    SRC, SRC, SRC, SRC, SRC) }, { timeout = 60 }))
  luatest.eq(r.stderr, "")
  -- luv keeps its loop first in registry.luv_context, as core.luv_loop
  -- reads it: the versions that was checked on.
  luatest.match(r.stdout, "^served on luv's loop\ttrue\t1%.4[0-4]%.%d+\n$")
end

function test_a_c_host_with_a_frame_loop_polls_luatest_between_frames()
  local r = assert(core.exec({ SRC .. "/build/frame_host" }, { timeout = 60 }))
  luatest.eq(r.status, 0, r.stderr)
  local frames = tonumber(r.stdout:match("^served between frames after (%d+) frames\n$"))
  assert(frames and frames > 1, r.stdout .. r.stderr)
end
