local luatest = require "luatest"
local core = require "luatest.core"

function test_unknown(nosuch)
end

function test_spawn_gather()
  local t = luatest.spawn(function(a, b)
    luatest.sleep(0.001)
    return a + b
  end, 1, 2)
  local r = luatest.gather(function() luatest.sleep(0.002) return "x" end, function() return "y" end)
  luatest.same(r, { "x", "y" })
  luatest.eq(t:wait(), 3)
end

function test_task_error()
  local t = luatest.spawn(function()
    luatest.sleep(0)
    error("in task")
  end)
  t:wait()
end

function test_gather_error()
  local cancelled_ran = false
  local err = luatest.raises(function()
    luatest.gather(function()
      luatest.sleep(1)
      cancelled_ran = true
    end, function()
      error("second fails")
    end)
  end, "second fails")
  luatest.eq(cancelled_ran, false)
end

function test_left_running()
  -- Two tasks waiting on each other: neither ever finishes.
  local a, b
  a = luatest.spawn(function()
    luatest.sleep(0)
    b:wait()
  end)
  b = luatest.spawn(function()
    luatest.sleep(0)
    a:wait()
  end)
end

function test_helpers()
  luatest.match("hello world", "^h%a+")
  luatest.contains("hello", "ll")
  luatest.contains({ 1, { 2 } }, { 2 })
  luatest.near(0.1 + 0.2, 0.3, 1e-12)
  luatest.raises(function() error("boom.x") end, "boom.x")
  local e = luatest.raises(function() luatest.eq(1, 2) end, "values differ")
  assert(type(e) == "table" and e.luatest_assertion)
end

function test_waits_forever()
  local a, b
  a = luatest.spawn(function()
    luatest.sleep(0)
    b:wait()
  end)
  b = luatest.spawn(function()
    luatest.sleep(0)
    a:wait()
  end)
  a:wait()
end

luatest.fixture("narrow", function()
  return 1
end)

luatest.fixture("wide", function(narrow)
  return narrow
end, { scope = "session" })

function test_scope_mismatch(wide)
end

luatest.fixture("loop_a", function(loop_b) return 1 end)
luatest.fixture("loop_b", function(loop_a) return 1 end)

function test_fixture_cycle(loop_a)
end

luatest.fixture("broken_teardown", function()
  return 1, function() error("teardown exploded") end
end)

function test_teardown_error(broken_teardown)
end

function test_left_sleeping()
  luatest.spawn(function()
    luatest.sleep(30)
  end)
end
luatest.timeout(0.1)
