-- Tasks on the loop: sleep, spawn, gather, and a loop turn that never
-- blocks while work is queued.
local luatest = require "luatest"
local core = require "luatest.core"
-- The interpreter of the runtime under test (its build's --env paths).
local LUA = os.getenv("LUATEST_LUA") or "lua5.4"
local web = require "luatest.web"

function test_sleep_zero_with_a_listening_server(aiohttp_server)
  -- A due timer wakes the task before libuv polls; the poll must not block
  -- on the idle listener.
  aiohttp_server(web.Application())
  local t0 = core.hrtime()
  for _ = 1, 50 do
    luatest.sleep(0)
  end
  assert(core.hrtime() - t0 < 1)
end

function test_sleep_waits_about_that_long()
  local t0 = core.hrtime()
  luatest.sleep(0.05)
  local dt = core.hrtime() - t0
  assert(dt >= 0.045 and dt < 1, dt)
end

function test_spawn_and_wait()
  local task = luatest.spawn(function(a, b)
    luatest.sleep(0.01)
    return a + b, "done"
  end, 2, 3)
  local sum, word = task:wait()
  assert(sum == 5 and word == "done")
  local failing = luatest.spawn(function()
    error("inside the task")
  end)
  local ok, err = pcall(failing.wait, failing)
  assert(not ok and tostring(err):find("inside the task", 1, true), tostring(err))
end

function test_gather_runs_concurrently()
  local t0 = core.hrtime()
  local results = luatest.gather(function()
    luatest.sleep(0.1)
    return "a"
  end, function()
    luatest.sleep(0.1)
    return "b"
  end, function()
    return "c"
  end)
  luatest.same(results, { "a", "b", "c" }) -- a plain list, as aiohttp's gather
  assert(core.hrtime() - t0 < 0.19, "gather ran its functions one after another")
end

function test_a_plain_yield_gives_the_loop_a_turn()
  local order = {}
  local task = luatest.spawn(function()
    order[#order + 1] = "spawned"
  end)
  coroutine.yield()
  order[#order + 1] = "after yield"
  task:wait()
  assert(table.concat(order, ",") == "spawned,after yield", table.concat(order, ","))
end

function test_tasks_that_wait_on_each_other_are_reported_not_hung()
  local script = [[
    local core = require "luatest.core"
    local a, b
    local ok, err = pcall(core.run_until_complete, function()
      a = core.spawn(function() while not b do core.sleep(0) end b:join() end)
      b = core.spawn(function() a:join() end)
      a:join()
    end)
    io.write(tostring(ok), " ", err)
  ]]
  local bin = os.getenv("LUATEST_BIN") or (core.srcdir .. "/luatest")
  local result = assert(core.exec({ "sh", "-c", string.format('eval "$(%q --env)"; %s -e %q', bin, LUA, script) },
    { timeout = 20 }))
  assert(result.stdout:find("false loop:run_until_complete: the task waits on task:wait, and nothing is left that could wake it", 1, true),
    result.stdout .. result.stderr)
end

function test_a_task_cancelled_inside_xpcall_leaves_nothing_behind()
  -- The coroutine of a task cancelled while suspended inside xpcall must not
  -- be reused with that xpcall's handler still armed.
  for _ = 1, 3 do
    local waiting = luatest.spawn(function()
      return xpcall(luatest.sleep, debug.traceback, 60)
    end)
    luatest.sleep(0)
    assert(waiting:cancel())
  end
  for _ = 1, 3 do
    local failing = luatest.spawn(function()
      error("plain error")
    end)
    local ok, err = pcall(failing.wait, failing)
    assert(not ok and tostring(err):find("plain error", 1, true), tostring(err))
  end
end

function test_run_with_timeout_says_what_and_where_it_waited()
  -- The interpreter of the runtime under test; to-be-closed variables
  -- exist from 5.4 on.
  local lua = os.getenv("LUATEST_LUA") or "lua5.4"
  local guard = lua == "lua5.4" and "local guard <close> = setmetatable({}, { __close = function() closed = true end })"
    or "closed = true"
  local script = [[
    local core = require "luatest.core"
    local web = require "luatest.web"
    local test_utils = require "luatest.test_utils"
    local app = web.Application()
    app.router:add_get("/slow", function() core.sleep(30) return "late" end)
    local client = test_utils.TestClient(test_utils.TestServer(app))
    local closed = false
    local ok, info = core.run_with_timeout(0.2, function()
      GUARD
      client:start_server()
      client:get("/slow")
    end)
    print(ok, info.timeout, info.waiting_on, info.where, closed)
    print(core.run_with_timeout(5, function(a) return a * 2 end, 21))
    core.run_until_complete(function() client:close() end)
    print(#core.open_objects())
  ]]
  script = script:gsub("GUARD", guard)
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write(script)
  f:close()
  local bin = os.getenv("LUATEST_BIN") or (core.srcdir .. "/luatest")
  local result = assert(core.exec({ "sh", "-c", string.format('eval "$(%q --env)"; %s %q', bin, lua, path) },
    { timeout = 20 }))
  os.remove(path)
  local lines = {}
  for line in result.stdout:gmatch("[^\n]+") do
    lines[#lines + 1] = line
  end
  assert(lines[1] == 'false\ttrue\tclient:get("/slow")\t' .. path .. ":11\ttrue", result.stdout .. result.stderr)
  assert(lines[2] == "true\t42", lines[2])
  assert(lines[3] == "0", lines[3])
end

function test_a_test_busy_in_lua_is_stopped_by_its_timeout()
  local bin = os.getenv("LUATEST_BIN") or (core.srcdir .. "/luatest")
  local sample = core.srcdir .. "/spec/data/runner/sample_busy.lua"
  local t0 = core.hrtime()
  local result = assert(core.exec({ bin, "--timeout", "0.3", "--no-color", sample }, { timeout = 30 }))
  assert(core.hrtime() - t0 < 10, "the busy test was not stopped")
  assert(result.status == 1, result.stdout .. result.stderr)
  if jit then
    -- LuaJIT checks hooks only in interpreted code, and the busy loop is
    -- compiled: the binary reports the test and ends the run.
    assert(result.stdout:find("\nFAIL " .. sample .. "::test_busy: timeout: busy in Lua for more than 1.3 s "
      .. "without waiting on anything, in code LuaJIT compiled (which cannot be interrupted); nothing after it ran\n",
      1, true), result.stdout)
    assert(result.stdout:match("\n0 passed, 1 failed\n$"), result.stdout)
  else
    assert(result.stdout:find("timeout: busy in Lua for more than 1.3 s without waiting on anything", 1, true),
      result.stdout)
    assert(result.stdout:match("1 passed, 1 failed\n$"), result.stdout)
  end
end

function test_run_with_timeout_counts_from_now_after_blocking_outside_the_loop()
  local script = [[
    local core = require "luatest.core"
    core.run_until_complete(function() core.sleep(0) end)
    os.execute("sleep 0.4");
    print(core.run_with_timeout(0.3, function() core.sleep(0.05) core.sleep(0.05) return "in time" end))
  ]]
  local bin = os.getenv("LUATEST_BIN") or (core.srcdir .. "/luatest")
  local result = assert(core.exec({ "sh", "-c", string.format('eval "$(%q --env)"; %s -e %q', bin, LUA, script) },
    { timeout = 20 }))
  assert(result.stdout == "true\tin time\n", result.stdout .. result.stderr)
end

function test_run_with_timeout_reports_a_task_nothing_can_wake_at_once()
  local script = [[
    local core = require "luatest.core"
    local t0 = core.hrtime()
    local a, b
    local ok, info = core.run_with_timeout(20, function()
      a = core.spawn(function() while not b do core.sleep(0) end b:join() end)
      b = core.spawn(function() a:join() end)
      a:join()
    end)
    print(ok, info.timeout, info.waiting_on, core.hrtime() - t0 < 5)
  ]]
  local bin = os.getenv("LUATEST_BIN") or (core.srcdir .. "/luatest")
  local result = assert(core.exec({ "sh", "-c", string.format('eval "$(%q --env)"; %s -e %q', bin, LUA, script) },
    { timeout = 40 }))
  assert(result.stdout == "false\tfalse\ttask:wait\ttrue\n", result.stdout .. result.stderr)
end
