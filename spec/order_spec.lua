-- --shuffle's generator: a seed gives the same order under every Lua a host
-- may run (the arithmetic is exact in integers and doubles alike).
local luatest = require "luatest"
local core = require "luatest.core"

local SCRIPT = [[
package.path = "lua/?.lua;" .. package.path
local order = require "luatest.order"
local next_int, out = order.generator(42), {}
for i = 1, 8 do out[i] = string.format("%d", next_int(100)) end
io.write(table.concat(out, " "))
]]

function test_a_seed_gives_the_same_sequence_under_every_lua()
  for _, lua in ipairs { "lua5.4", "lua5.1", "luajit" } do
    local result = assert(core.exec({ lua, "-e", SCRIPT }, { cwd = core.srcdir }))
    luatest.eq(result.stdout, "54 2 24 6 37 94 90 17", lua .. ": " .. result.stderr)
  end
end

function test_the_generator_stays_in_range_and_reaches_every_value()
  local next_int, seen = require("luatest.order").generator(7), {}
  for _ = 1, 2000 do
    local v = next_int(10)
    assert(v >= 1 and v <= 10 and v == math.floor(v), tostring(v))
    seen[v] = true
  end
  for v = 1, 10 do
    assert(seen[v], v)
  end
end
