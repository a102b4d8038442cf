-- The runner's text report of a run: the progress characters, -v and -q,
-- each failure with its id, position, message, source line, values and
-- traceback (luatest's own frames trimmed), and the closing line. Most
-- tests run the luatest binary on the sample files under spec/data/runner/.
local luatest = require "luatest"
local eq, contains, match = luatest.eq, luatest.contains, luatest.match

local HERE = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
local DATA = HERE .. "/data/runner/"
local support = dofile(HERE .. "/support/runner.lua")
local run, write_file = support.run, support.write_file

luatest.fixture("tmpdir", support.tmpdir)

describe("a run with passing, failing, erroring and skipped tests", function()
  local r
  before_each(function()
    r = r or run { DATA .. "sample_mixed.lua" }
  end)

  it("exits 1 and ends with the counts", function()
    eq(r.code, 1)
    eq(r.last, "2 passed, 4 failed, 1 skipped")
  end)

  it("prints a progress character per test", function()
    contains(r.out, DATA .. "sample_mixed.lua ..FFEsF\n")
  end)

  it("reports each failure with its id, position, message and values", function()
    contains(r.out, "FAIL " .. DATA .. "sample_mixed.lua::block > fails with eq")
    contains(r.out, DATA .. "sample_mixed.lua:14: eq: values differ\n  left:  41\n  right: 42")
    contains(r.out, "luatest.eq(got, 42)")
    contains(r.out, "    got = 41")
    contains(r.out, DATA .. "sample_mixed.lua:20: assertion failed!")
    contains(r.out, "    answer = 41")
    contains(r.out, "ERROR " .. DATA .. "sample_mixed.lua::test_error")
    -- (LuaJIT words it "attempt to index local 't' (a nil value)".)
    match(r.out, "attempt to index [^\n]*local 't'")
    contains(r.out, "same: values differ at .a[2].b")
  end)

  it("shows tracebacks without luatest's own frames", function()
    contains(r.out, "stack traceback:\n    " .. DATA .. "sample_mixed.lua:14: in function")
    assert(not r.out:find("luatest/runner.lua", 1, true), r.out)
    assert(not r.out:find("luatest/assert.lua", 1, true), r.out)
  end)

  it("counts the errors apart from the failures on the line before the closing one", function()
    eq(r.out:sub(-#"\n4 failed: 3 failures, 1 error\n2 passed, 4 failed, 1 skipped\n" ),
      "\n4 failed: 3 failures, 1 error\n2 passed, 4 failed, 1 skipped\n")
  end)

  it("uses no colour when stdout is not a terminal", function()
    assert(not r.out:find("\27[", 1, true))
  end)
end)

function test_verbose_lists_every_test_with_its_time()
  local r = run { "-v", DATA .. "sample_mixed.lua" }
  match(r.out, "PASS " .. DATA:gsub("%p", "%%%0") .. "sample_mixed%.lua::test_pass %(%d+%.%d+ ms%)\n")
  contains(r.out, "SKIP " .. DATA .. "sample_mixed.lua::test_skipped (")
  contains(r.out, "): not today\n")
  eq(r.last, "2 passed, 4 failed, 1 skipped")
end

function test_quiet_prints_only_progress_and_failures()
  local r = run { "-q", DATA .. "sample_mixed.lua" }
  eq(r.out:sub(1, 8), "..FFEsF\n")
  eq(r.last, "2 passed, 4 failed, 1 skipped")
end

describe("the report of a failed plain assert", function()
  local r
  before_each(function()
    r = r or run { DATA .. "sample_values.lua" }
  end)

  it("shows the fields the line reads from its variables", function()
    contains(r.out, '   11 | assert(resp.status == 200 and resp.headers["Content-Type"] == "text/html")\n'
      .. "    resp.status = 500\n"
      .. '    resp.headers["Content-Type"] = "text/plain"\n')
  end)

  it("shows upvalues as well as locals", function()
    contains(r.out, DATA .. 'sample_values.lua:16: too many\n   16 | assert(count <= limit, "too many")\n'
      .. "    count = 5\n    limit = 3\n")
  end)

  it("shows the variable when the field cannot be read, and tells errors from failures", function()
    contains(r.out, "\nERROR " .. DATA .. "sample_values.lua::test_nil\n")
    contains(r.out, "   21 | assert(resp.status == 200)\n    resp = nil\n")
    contains(r.out, "\nFAIL " .. DATA .. "sample_values.lua::test_fields\n")
  end)

  it("does not call methods to show values", function()
    contains(r.out, '    resp.body = "oops"\n')
    assert(not r.out:find("\n    resp:text", 1, true), r.out)
    eq(r.last, "0 passed, 4 failed")
  end)
end)

describe("errors apart from failures", function()
  -- An assertion that fails in the test is a failure; anything else
  -- raised by the test, a hook or a fixture is an error.
  local SPEC = [[
local luatest = require "luatest"
luatest.fixture("broken", function() error("no setup today") end)
function test_fails() assert(1 == 2, "nope") end
function test_raises() error("boom") end
function test_uses_broken(broken) end
describe("hooks", function()
  before_each(function() error("the hook broke") end)
  it("x", function() end)
end)
function test_passes() end
]]

  it("are counted apart, serially and with -j, and the closing line stays as it was", function(tmpdir)
    write_file(tmpdir .. "/e_spec.lua", SPEC)
    for _, args in ipairs { { tmpdir }, { "-j", "2", tmpdir } } do
      local r = run(args)
      eq(r.code, 1)
      eq(r.last, "1 passed, 4 failed")
      contains(r.out, "\n4 failed: 1 failure, 3 errors\n1 passed, 4 failed\n")
    end
  end)

  it("are not mentioned when there are none", function(tmpdir)
    write_file(tmpdir .. "/f_spec.lua", "function test_fails() assert(false) end\nfunction test_ok() end\n")
    local r = run { tmpdir }
    eq(r.last, "1 passed, 1 failed")
    assert(not r.out:find("failed:", 1, true), r.out)
    assert(not r.out:find("error", 1, true), r.out)
  end)
end)
