-- A C handler that crashes the process in a serial run: the luatest binary
-- still prints the test that was running and the closing line, counting it
-- as failed (with -j, runner_parallel_spec shows the parent reporting a dead worker).
local luatest = require "luatest"
local core = require "luatest.core"

local bin = os.getenv("LUATEST_BIN") or (core.srcdir .. "/luatest")

local function run_crashing(kind)
  local script = string.format([[
    dir=$(mktemp -d) && trap 'rm -rf "$dir"' EXIT
    cat > "$dir/crash_spec.lua" <<'LUA'
package.cpath = %q .. "/?.so;" .. package.cpath
local web = require "luatest.web"
local crashing = require "crashing"
function test_first() end
function test_skipped() require("luatest").skip("not today") end
function test_crash(aiohttp_client)
  local app = web.Application()
  app.router:add_get("/crash/{kind}", crashing)
  aiohttp_client(app):get("/crash/%s")
end
function test_never_reached() end
LUA
    cd "$dir" && %q crash_spec.lua]], os.getenv("LUATEST_MODULES") or core.srcdir .. "/build/modules", kind, bin)
  return assert(core.exec({ "sh", "-c", script }, { timeout = 60 }))
end

local function check(result, signal)
  assert(result.status ~= 0, result.stdout)
  local out = result.stdout
  assert(out:find("\nCRASH crash_spec.lua::test_crash: the process died of " .. signal
    .. " while this test ran (a C handler or module); nothing after it ran\n\n", 1, true), out .. result.stderr)
  -- What the report had printed before the crash is there, then the counts.
  assert(out:find("^crash_spec.lua %.s\n"), out)
  assert(out:find("\n1 passed, 1 failed, 1 skipped\n$"), out)
end

function test_a_segfault_in_a_c_handler_leaves_the_test_id_and_the_closing_line()
  check(run_crashing("segv"), "SIGSEGV")
end

function test_an_abort_in_a_c_handler_leaves_the_same_report()
  check(run_crashing("abort"), "SIGABRT")
end

function test_a_host_running_lt_run_gets_no_signal_handler()
  -- lt_run in a host: nothing of luatest's is installed for SIGSEGV.
  local result = assert(core.exec({ "sh", "-c", string.format(
    "cd %q && LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH='lib/?.so;;' lua5.4 -e '"
    .. "require(\"luatest.core\"); print(package.loaded[\"luatest.binary\"])'", core.srcdir) }))
  luatest.eq(result.stdout, "nil\n")
end
