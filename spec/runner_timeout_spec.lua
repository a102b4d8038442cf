-- The runner's time limits: per run (--timeout), per file (luatest.timeout)
-- and per test (it's options); what a stopped test's report names; the
-- hooks and teardowns that still run; --durations.
local luatest = require "luatest"
local eq, contains, match = luatest.eq, luatest.contains, luatest.match

local HERE = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
local DATA = HERE .. "/data/runner/"
local support = dofile(HERE .. "/support/runner.lua")
local run, write_file = support.run, support.write_file

luatest.fixture("tmpdir", support.tmpdir)

describe("time limits", function()
  local r, took
  before_each(function()
    if not r then
      local core = require "luatest.core"
      local t0 = core.hrtime()
      r = run { "-s", "-v", "--durations", "2", DATA .. "sample_timeout.lua" }
      took = core.hrtime() - t0
    end
  end)

  it("fail a test still waiting at its limit, naming where and on what", function()
    contains(r.out, "\nFAIL " .. DATA .. "sample_timeout.lua::test_slow_request\n" .. DATA .. "sample_timeout.lua:20: "
      .. 'timeout: the test did not finish within 0.3 s; it was waiting on client:get("/slow")\n'
      .. '   20 | local resp = client:get("/slow")\n')
  end)

  it("are set per file with luatest.timeout and per test with it's options", function()
    contains(r.out, DATA .. "sample_timeout.lua:26: timeout: the test did not finish within 0.1 s; it was waiting "
      .. "on sleep(5)")
    contains(r.out, "PASS " .. DATA .. "sample_timeout.lua::block > may take longer than the file's limit (")
  end)

  it("still run the after_each hooks and teardowns, and the run goes on", function()
    eq(select(2, r.out:gsub("AFTER EACH ran\n", "")), 2)
    contains(r.out, "TEARDOWN log\n")
    contains(r.out, "PASS " .. DATA .. "sample_timeout.lua::test_after_the_timeouts (")
    assert(not r.out:find("left %d+ objects? open"), r.out)
    eq(r.code, 1)
    eq(r.last, "2 passed, 2 failed")
    assert(took < 5, "the run took " .. took .. " s")
  end)

  it("--durations lists the slowest tests", function()
    match(r.out, "\nslowest 2 tests:\n +%d+%.%d+ ms  [^\n]*::block > may take longer than the file's limit\n"
      .. " +%d+%.%d+ ms  [^\n]*::test_slow_request\n")
  end)

  it("come from --timeout otherwise, 0 meaning none", function(tmpdir)
    local path = tmpdir .. "/nap_spec.lua"
    write_file(path, 'function test_nap() require("luatest").sleep(0.1) end\n')
    local r1 = run { "--timeout", "0.02", path }
    eq(r1.code, 1)
    contains(r1.out, path .. ":1: timeout: the test did not finish within 0.02 s; it was waiting on sleep(0.1)")
    eq(run({ "--timeout", "0", path }).last, "1 passed, 0 failed")
    eq(run({ "--timeout=1", path }).last, "1 passed, 0 failed")
    local bad = run { "--timeout", "-1", path }
    eq(bad.code, 2)
    contains(bad.err, "option --timeout: expected a number of seconds >= 0, got '-1'")
  end)
end)
