-- The modules outside the luatest runner: a stock lua5.4 script and a busted
-- spec, each with the paths `luatest --env` prints.
local core = require "luatest.core"

local bin = os.getenv("LUATEST_BIN") or (core.srcdir .. "/luatest")

local function run_with_env(command)
  local script = string.format('set -e; cd %q; eval "$(%q --env)"; %s', core.srcdir, bin, command)
  local result = assert(core.exec({ "sh", "-c", script }, { timeout = 120 }))
  return result.status, result.stdout .. result.stderr
end

function test_env_prints_the_two_exports()
  local result = assert(core.exec({ bin, "--env" }))
  assert(result.status == 0)
  assert(result.stdout:match("^export LUA_PATH='[^']+'\nexport LUA_CPATH='[^']+'\n$"), result.stdout)
end

function test_stock_lua_runs_the_framework_agnostic_example()
  local status, out = run_with_env("lua5.4 examples/agnostic/plain.lua")
  assert(status == 0, out)
  assert(out:find("plain lua5.4: ok", 1, true), out)
end

function test_busted_runs_a_spec_using_the_test_utils()
  local status, out = run_with_env("busted --lua=lua5.4 -o TAP examples/agnostic/busted_hello.lua")
  assert(status == 0, out)
  assert(out:find("ok 1", 1, true) and out:find("ok 2", 1, true), out)
  assert(not out:find("not ok", 1, true), out)
end
