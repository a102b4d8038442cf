-- The modules outside the luatest runner: a stock lua5.4 script and a busted
-- spec, each with the paths `luatest --env` prints.
local core = require "luatest.core"

local bin = os.getenv("LUATEST_BIN") or (core.srcdir .. "/luatest")
-- A stock lua5.4 (and busted on it) use the tree's Lua 5.4 build, whatever
-- runtime runs this suite.
local tree_bin = core.srcdir .. "/luatest"

local function run_with_env(command)
  local script = string.format('set -e; cd %q; eval "$(%q --env)"; %s', core.srcdir, tree_bin, command)
  local result = assert(core.exec({ "sh", "-c", script }, { timeout = 120 }))
  return result.status, result.stdout .. result.stderr
end

local function env_with(assignments)
  local script = string.format("unset LUA_PATH LUA_CPATH LUA_PATH_5_4 LUA_CPATH_5_4; %s %q --env",
    assignments, tree_bin)
  local result = assert(core.exec({ "sh", "-c", script }))
  assert(result.status == 0, result.stderr)
  return result.stdout
end

function test_env_prints_the_versioned_exports_a_stock_lua54_reads_first()
  local out = env_with("")
  local path, cpath = out:match("^export LUA_PATH_5_4='([^']+)'\nexport LUA_CPATH_5_4='([^']+)'\n$")
  assert(path, out)
  assert(path == core.srcdir .. "/lua/?.lua;" .. core.srcdir .. "/lua/?/init.lua;;", path)
  assert(cpath == core.srcdir .. "/lib/?.so;;", cpath)
end

function test_env_prepends_to_the_users_paths()
  -- The versioned variable wins over the plain one, as in lua5.4 itself.
  local out = env_with("LUA_PATH='/plain/?.lua;;' LUA_PATH_5_4='/tree/?.lua;;' LUA_CPATH='/tree/?.so'")
  assert(out:find(core.srcdir .. "/lua/?/init.lua;/tree/?.lua;;'\n", 1, true), out)
  assert(out:find("export LUA_CPATH_5_4='" .. core.srcdir .. "/lib/?.so;/tree/?.so'\n", 1, true), out)
  assert(not out:find("/plain/", 1, true), out)
end

function test_env_keeps_a_luarocks_tree_on_the_path_of_a_stock_lua()
  local result = assert(core.exec({ "sh", "-c", string.format([[
    unset LUA_PATH_5_4 LUA_CPATH LUA_CPATH_5_4
    export LUA_PATH='/rocks/share/lua/5.4/?.lua;;'
    eval "$(%q --env)"
    lua5.4 -e 'print(package.path) print(package.searchpath("luatest.web", package.path))']], tree_bin) }))
  assert(result.status == 0, result.stderr)
  assert(result.stdout:find("/rocks/share/lua/5.4/?.lua;", 1, true), result.stdout)
  assert(result.stdout:find("/usr/share/lua/5.4/?.lua", 1, true), result.stdout) -- ";;" kept the defaults
  assert(result.stdout:find(core.srcdir .. "/lua/luatest/web.lua\n", 1, true), result.stdout)
end

function test_version_names_luatest_its_lua_and_the_libraries()
  local result = assert(core.exec({ bin, "--version" }))
  assert(result.status == 0, result.stderr)
  local names = {}
  for name, version in result.stdout:gmatch("([%w]+) ([^\n]+)\n") do
    assert(version:match("^%d+%.%d+"), result.stdout)
    names[#names + 1] = name
  end
  assert(table.concat(names, " ") == "luatest Lua libuv llhttp libwebsockets", result.stdout)
  assert(result.stdout:find("\nLua " .. _VERSION:match("%d+%.%d+") .. "%.%d+\n"), result.stdout)
  assert(result.stdout:find("\nlibwebsockets %d+%.%d+%.%d+\n"), result.stdout)
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
