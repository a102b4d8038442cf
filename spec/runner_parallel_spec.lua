-- The runner's worker processes (-j): one merged report, a worker that
-- dies, the other reports and -x, bad values.
local unpack = table.unpack or unpack
local luatest = require "luatest"
local eq, contains, same = luatest.eq, luatest.contains, luatest.same

local HERE = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
local DATA = HERE .. "/data/runner/"
local support = dofile(HERE .. "/support/runner.lua")
local run, failure_ids = support.run, support.failure_ids

describe("-j", function()
  local files = { DATA .. "sample_mixed.lua", DATA .. "sample_case.lua", DATA .. "sample_web.lua",
    DATA .. "sample_values.lua", DATA .. "sample_misc.lua" }

  it("runs the files in workers and merges their results into one report", function()
    local serial = run(files)
    local par = run { "-j", "2", unpack(files) }
    eq(par.code, serial.code)
    eq(par.last, serial.last)
    same(failure_ids(par.out), failure_ids(serial.out))
    eq(select(2, par.out:gsub("\n%d+ passed, %d+ failed", "")), 1)
    contains(par.out, DATA .. "sample_mixed.lua ..FFEsF\n")
    contains(par.out, "    resp.status = 500\n")
    contains(par.out, "handler errors:\n    GET /boom: " .. DATA .. "sample_web.lua:8: handler boom")
  end)

  it("fails the test whose worker died, and the other tests still run", function()
    local r = run { "-j", "2", DATA .. "sample_crash.lua", DATA .. "sample_mixed.lua" }
    eq(r.code, 1)
    contains(r.out, "\nERROR " .. DATA .. "sample_crash.lua::test_exit\n")
    contains(r.out, "the worker process running this test exited with status 3\n")
    contains(r.out, "\nERROR " .. DATA .. "sample_crash.lua::test_killed\n")
    -- (Under AddressSanitizer the worker reports the SEGV itself and exits.)
    assert(r.out:find("the worker process running this test was killed by signal 11 (SIGSEGV)\n", 1, true)
      or r.out:find("the worker process running this test exited with status %d+\nits stderr ended with:\n.-"
        .. "AddressSanitizer: SEGV"), r.out)
    contains(r.out, "about to exit\n")
    eq(r.last, "5 passed, 6 failed, 1 skipped")
  end)

  it("works with the other reports and -x", function()
    local r = run { "-j", "2", "--output", "json", unpack(files) }
    local doc = require("luatest.json").decode(r.out)
    eq(#doc.tests, doc.totals.total)
    eq(doc.exit_code, 1)
    r = run { "-j", "2", "-x", DATA .. "sample_mixed.lua" }
    eq(r.code, 1)
    contains(r.out, "stopped after the first failure (-x)\n")
    eq(r.last, "2 passed, 1 failed")
  end)

  it("refuses a number of workers that is not one or more", function()
    for _, v in ipairs { "0", "x", "-1" } do
      local r = run { "-j", v, DATA .. "sample_mixed.lua" }
      eq(r.code, 2)
      contains(r.err, "expected a whole number >= 1")
    end
  end)
end)
