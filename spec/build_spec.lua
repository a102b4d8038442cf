-- The build's outputs: the luatest binary runs when copied alone anywhere,
-- lib/luatest/core.so serves a stock lua5.4, and a C handler module built
-- in the tree loads there too.
local luatest = require "luatest"
local core = require "luatest.core"

local function sh(script)
  local result = assert(core.exec({ "sh", "-c", script }, { timeout = 60 }))
  return result.status, result.stdout, result.stderr
end

local bin = os.getenv("LUATEST_BIN") or (core.srcdir .. "/luatest")

function test_binary_runs_when_copied_alone()
  local status, out, err = sh(string.format([[
    set -e
    dir=$(mktemp -d)
    trap 'rm -rf "$dir"' EXIT
    cp %q "$dir/luatest"
    mkdir "$dir/spec"
    cat > "$dir/spec/copied_spec.lua" <<'LUA'
local web = require "luatest.web"
function test_copied(aiohttp_client)
  local app = web.Application()
  app.router:add_get("/", function() return "copied" end)
  assert(aiohttp_client(app):get("/"):text() == "copied")
end
LUA
    cd "$dir" && ./luatest
  ]], bin))
  assert(status == 0, out .. err)
  assert(out:match("1 passed, 0 failed\n$"), out)
end

function test_core_module_in_a_stock_interpreter()
  local status, out, err = sh(string.format([[
    LUA_PATH='%s/lua/?.lua;%s/lua/?/init.lua;;' LUA_CPATH='%s/lib/?.so;;' lua5.4 -e '
      local core = require "luatest.core"
      local web = require "luatest.web"
      local test_utils = require "luatest.test_utils"
      local app = web.Application()
      app.router:add_get("/", function() return "stock lua" end)
      print(core.run_until_complete(function()
        local client = test_utils.TestClient(test_utils.TestServer(app))
        client:start_server()
        local text = client:get("/"):text()
        client:close()
        return text
      end))'
  ]], core.srcdir, core.srcdir, core.srcdir))
  assert(status == 0, out .. err)
  assert(out == "stock lua\n", out .. err)
end

function test_c_handler_module_of_the_tree_in_a_stock_interpreter()
  local status, out, err = sh(string.format([[
    cd %q
    LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH='lib/?.so;build/modules/?.so;;' lua5.4 spec/data/c_module.lua
  ]], core.srcdir))
  assert(status == 0, out .. err)
  assert(out == "Hello, ada | hello from C | C got over the wire\n", out .. err)
end

function test_a_peer_gone_mid_answer_does_not_kill_a_stock_interpreter()
  -- lua5.4 leaves SIGPIPE at its default, which ends the process on a
  -- write to a closed connection: the loop holds it back and the writer
  -- gets an error instead.
  local status, out, err = sh(string.format([[
    LUA_PATH='%s/lua/?.lua;%s/lua/?/init.lua;;' LUA_CPATH='%s/lib/?.so;;' lua5.4 -e '
      local core = require "luatest.core"
      local web = require "luatest.web"
      local test_utils = require "luatest.test_utils"
      local ended
      local app = web.Application()
      app.router:add_get("/", function(request)
        local resp = web.StreamResponse()
        resp:prepare(request)
        ended = not pcall(function()
          for i = 1, 100000 do
            resp:write("xxxxxxxxxx" .. i .. "\n")
            core.sleep(0.002)
          end
        end)
        return resp
      end)
      print(core.run_until_complete(function()
        local client = test_utils.TestClient(test_utils.TestServer(app))
        client:start_server()
        local resp = client:get("/")
        local first = resp.content:read(10)
        core.sleep(0.05)
        resp:release()
        while not ended do
          core.sleep(0.01)
        end
        client:close()
        return first, ended
      end))'
  ]], core.srcdir, core.srcdir, core.srcdir))
  assert(status == 0, "status " .. tostring(status) .. ": " .. out .. err)
  assert(out == "xxxxxxxxxx\ttrue\n", out .. err)
end

function test_a_module_built_for_another_runtime_is_refused_by_name()
  -- The tree's lib/ is built for Lua 5.4; LuaJIT or Lua 5.3 loading it get
  -- a message, not a crash or an undefined symbol. (Thirty times each: a
  -- call into the wrong runtime crashes only some of the time.)
  for _, case in ipairs { { "luajit", "LuaJIT" }, { "lua5.3", "Lua 5%.3" } } do
    local status, out, err = sh(string.format([[
      for i in $(seq 30); do
        LUA_CPATH='%s/lib/?.so;;' %s -e 'print(pcall(require, "luatest.core"))' || exit 1
      done]], core.srcdir, case[1]))
    assert(status == 0, case[1] .. ": " .. out .. err)
    local once = "false\tluatest%.core was built for Lua 5%.4 %(Lua 5%.4%.%d+%), this is " .. case[2] .. "\n"
    luatest.match(out, "^" .. once:rep(30) .. "$")
  end
end

function test_the_library_installs_no_signal_handler_in_its_host()
  -- The busy-test watchdog (SIGALRM) belongs to the luatest binary: a
  -- stock interpreter running a timed test catches no signal afterwards.
  local status, out, err = sh(string.format([[
    LUA_PATH='%s/lua/?.lua;%s/lua/?/init.lua;;' LUA_CPATH='%s/lib/?.so;;' lua5.4 -e '
      local core = require "luatest.core"
      print(core.run_with_timeout(2, function() core.sleep(0.01) return "ran" end))
      local f = assert(io.open("/proc/self/status"))
      print(f:read("a"):match("SigCgt:%%s*(%%x+)"))
      f:close()'
  ]], core.srcdir, core.srcdir, core.srcdir))
  assert(status == 0, out .. err)
  local ran, caught = out:match("^(true\tran)\n(%x+)\n$")
  assert(ran, out .. err)
  -- (lua5.4 itself catches SIGINT; SIGALRM is signal 14, bit 13.)
  luatest.eq(math.floor(tonumber(caught, 16) / 2 ^ 13) % 2, 0)
end

-- -j from a runner a host required: the workers are the luatest binary
-- found beside the library (here, the tree's), and without one the run
-- fails saying so, before any test ran.
local function embedded_parallel_run(cpath)
  return sh(string.format([[
    dir=$(mktemp -d)
    trap 'rm -rf "$dir"' EXIT
    mkdir "$dir/spec"
    for n in one two; do
      printf 'function test_%%s() assert(true) end\n' "$n" > "$dir/spec/${n}_spec.lua"
    done
    mkdir -p "$dir/copy/luatest"
    cp %q/lib/libluatest.so.0 "$dir/copy/luatest/core.so"
    cd "$dir" && env -u LUATEST_BIN PATH=/usr/bin:/bin \
      LUA_PATH='%s/lua/?.lua;%s/lua/?/init.lua;;' LUA_CPATH="%s;;" lua5.4 -e '
        os.exit(require("luatest.runner").main({ "-j", "2", "spec" }))'
  ]], core.srcdir, core.srcdir, core.srcdir, cpath))
end

function test_j_from_an_embedded_runner_starts_the_luatest_binary_beside_the_library()
  local status, out, err = embedded_parallel_run(core.srcdir .. "/lib/?.so")
  assert(status == 0, out .. err)
  assert(out:match("2 passed, 0 failed\n$"), out .. err)
end

function test_j_from_an_embedded_runner_without_a_binary_says_so()
  local status, out, err = embedded_parallel_run("$dir/copy/?.so")
  assert(status ~= 0, out .. err)
  assert(err:find("luatest: -j: workers run in the luatest binary, and this process (/usr/bin/lua5.4", 1, true), err)
  assert(err:find("set LUATEST_BIN", 1, true), err)
  assert(out == "0 passed, 0 failed\n", out)
end

-- PUC Lua 5.1: the bindings compile against its headers, and compat.h's
-- lua_isyieldable, which reads 5.1.5's lua_State, answers as 5.1's own
-- lua_yield would (a spec that fails when liblua5.1 changes its layout).
function test_the_bindings_build_for_lua51_and_isyieldable_reads_its_state()
  local inc = "-I/usr/include/lua5.1"
  for _, name in ipairs { "client", "core", "json", "loop", "probe", "request", "router", "runtime", "server",
    "ws" } do
    local r = assert(core.exec({ "cc", "-std=c11", "-fsyntax-only", "-Wall", "-Wextra", "-Werror", "-D_GNU_SOURCE",
      "-I" .. core.srcdir .. "/include", "-I" .. core.srcdir .. "/src/core", "-I" .. core.srcdir .. "/src/lua",
      "-I/usr/share/include/llhttp", inc, core.srcdir .. "/src/lua/" .. name .. ".c" }, { timeout = 60 }))
    luatest.eq(r.stderr, "")
  end
  local exe = os.tmpname()
  local build = assert(core.exec({ "cc", "-std=c11", "-I" .. core.srcdir .. "/src/lua", inc,
    core.srcdir .. "/spec/data/lua51_yieldable.c", "-o", exe, "-llua5.1" }, { timeout = 60 }))
  luatest.eq(build.stderr, "")
  local run = assert(core.exec({ exe }, { timeout = 10 }))
  os.remove(exe)
  luatest.eq(run.stdout, "true\tfalse\tfalse\nfalse\n")
end

-- A module that does not compile leaves the embedded C file as it was (the
-- next make tries again instead of linking half a file), and names itself.
function test_embedding_a_module_that_does_not_compile_keeps_the_old_output()
  local status, out, err = sh(string.format([[
    dir=$(mktemp -d)
    trap 'rm -rf "$dir"' EXIT
    printf 'return {\n' > "$dir/bad.lua"
    printf 'before\n' > "$dir/embedded.c"
    lua5.4 %q/tools/embed.lua "$dir/embedded.c" "$dir/bad.lua"
    echo "status $?"
    cat "$dir/embedded.c"
    ls "$dir"
  ]], core.srcdir))
  assert(status == 0, err)
  luatest.eq(out, "status 1\nbefore\nbad.lua\nembedded.c\n")
  luatest.contains(err, "bad.lua:2: unexpected symbol")
end
