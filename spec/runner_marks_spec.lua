-- Marks and conditions: the options of it, describe and luatest.test
-- (marks, skip, skipif, xfail, timeout), -m expressions, pending tests,
-- xfail outcomes, and how the reports show them.
local luatest = require "luatest"
local eq, contains, same = luatest.eq, luatest.contains, luatest.same

local HERE = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
local support = dofile(HERE .. "/support/runner.lua")
local run, write_file, lines_of = support.run, support.write_file, support.lines_of

luatest.fixture("tmpdir", support.tmpdir)

local log_of, spec_file = support.log_of, support.logging_spec_file

-- The ids of a --list output with the file's path cut off.
local function listed(path, ...)
  local r = run { "--list", path, ... }
  local out = {}
  for i, l in ipairs(lines_of(r.out)) do
    out[i] = l:sub(#path + 3)
  end
  return out, r
end

-- Tests with marks in all three forms.
local MARKED = [[
describe("net", function()
  it("fast get", function() end, { marks = {"fast"} })
  it("slow get", function() end, { marks = {"slow"} })
  describe("deep", function()
    it("plain", function() end)
  end, { marks = {"deep"} })
end, { marks = {"net"} })
test_slow = luatest.test(function() end, { marks = {"slow", "db"} })
function test_unmarked() end
Case = require("luatest.test_utils").AioHTTPTestCase:extend("Case")
function Case:get_application() return require("luatest.web").Application() end
Case.test_m = luatest.test(function(self) end, { marks = "slow" })
]]

describe("-m", function()
  it("selects by marks with and, or, not and parentheses, names matching exactly", function(tmpdir)
    local path = spec_file(tmpdir, "m_spec.lua", MARKED)
    same(listed(path, "-m", "slow"), { "net > slow get", "test_slow", "Case.test_m" })
    same(listed(path, "-m", "slow and not net"), { "test_slow", "Case.test_m" })
    same(listed(path, "-m", "net and not (fast or slow)"), { "net > deep > plain" })
    same(listed(path, "-m", "deep or db"), { "net > deep > plain", "test_slow" })
    same(listed(path, "-m", "not net and not slow"), { "test_unmarked" })
    -- Names match whole (no substrings), and case matters.
    same(listed(path, "-m", "sl"), {})
    same(listed(path, "-m", "SLOW"), {})
    -- With -k, both must pass.
    same(listed(path, "-m", "slow", "-k", "get"), { "net > slow get" })
    local r = run { "-m", "slow", path }
    eq(r.last, "3 passed, 0 failed")
  end)

  it("may be a default in .luatest.lua (markexpr); the last -m given counts", function(tmpdir)
    spec_file(tmpdir, "m_spec.lua", MARKED)
    write_file(tmpdir .. "/.luatest.lua", "return { markexpr = 'db' }\n")
    eq(run({ "--list", "." }, nil, tmpdir).out, "m_spec.lua::test_slow\n")
    eq(run({ "--list", "-m", "fast", "." }, nil, tmpdir).out, "m_spec.lua::net > fast get\n")
    eq(run({ "--list", "-m", "db", "-m", "deep", "." }, nil, tmpdir).out, "m_spec.lua::net > deep > plain\n")
  end)

  it("selecting nothing exits 5; an unknown mark is no error", function(tmpdir)
    local path = spec_file(tmpdir, "m_spec.lua", MARKED)
    local r = run { "-m", "nosuchmark", path }
    eq(r.code, 5)
    contains(r.out, "no tests selected (6 deselected)\n")
    eq(r.last, "0 passed, 0 failed")
  end)

  it("that does not parse is bad usage naming -m", function(tmpdir)
    local path = spec_file(tmpdir, "m_spec.lua", MARKED)
    for expr, why in pairs {
      ["slow and"] = "expected a word, 'not' or '(' after 'and'",
      ["slow net"] = "unexpected 'net' at column 6",
      ["(slow"] = "the '(' at column 1 is not closed",
    } do
      local r = run { "-m", expr, path }
      eq(r.code, 2)
      contains(r.err, "luatest: option -m: " .. why .. ", got '" .. expr .. "'")
    end
  end)

  it("works with -j", function(tmpdir)
    local path = spec_file(tmpdir, "m_spec.lua", MARKED)
    local serial, par = run { "-v", "-m", "slow or deep", path }, run { "-v", "-j", "2", "-m", "slow or deep", path }
    eq(serial.last, "4 passed, 0 failed")
    eq(par.last, serial.last)
  end)
end)

describe("skip, skipif and pending", function()
  local BODY = [[
luatest.fixture("fx", function() LOG("fixture set up") return 1 end)
describe("outer", function()
  before_each(function() LOG("hook ran") end)
  it("skipped", function(fx) LOG("ran skipped") end, { skip = "not today" })
  it("by block", function(fx) LOG("ran by block") end)
  describe("inner", function()
    it("nearest wins", function() LOG("ran inner") end)
    it("skipped again", function() end, { skip = "own reason" })
  end, { skip = false })
  pending("to write")
end, { skip = "whole block" })
it("skipif true", function(fx) LOG("ran skipif") end, { skipif = true })
it("skipif function", function(fx) LOG("ran skipif function") end, { skipif = function()
  LOG("condition called")
  return "no network here"
end })
it("skipif false", function() LOG("ran skipif false") end, { skipif = function() return false end })
luatest.pending("top level")
test_g = luatest.test(function() LOG("ran global") end, { skip = "global reason" })
it("pending inside", function() LOG("started") pending("not finished") LOG("went on") end)
]]

  it("skip without setting up fixtures or running hooks, and count as skipped with their reasons", function(tmpdir)
    local path = spec_file(tmpdir, "s_spec.lua", BODY)
    local r = run { "-v", path }
    eq(r.code, 0)
    eq(r.last, "2 passed, 0 failed, 9 skipped")
    local p = path .. "::"
    for _, line in ipairs {
      "SKIP " .. p .. "outer > skipped (0.00 ms): not today\n",
      "SKIP " .. p .. "outer > by block (0.00 ms): whole block\n",
      "PASS " .. p .. "outer > inner > nearest wins (",
      "SKIP " .. p .. "outer > inner > skipped again (0.00 ms): own reason\n",
      "SKIP " .. p .. "outer > to write (0.00 ms): pending\n",
      "SKIP " .. p .. "skipif true (0.00 ms): skipif condition is true\n",
      "SKIP " .. p .. "skipif function (0.00 ms): no network here\n",
      "PASS " .. p .. "skipif false (",
      "SKIP " .. p .. "top level (0.00 ms): pending\n",
      "SKIP " .. p .. "test_g (0.00 ms): global reason\n",
      -- busted's pending inside a test stops it
      "SKIP " .. p .. "pending inside (",
      "): pending: not finished\n",
    } do
      contains(r.out, line)
    end
    -- The condition was called at collection; no skipped test set a
    -- fixture up or ran a hook.
    same(log_of(tmpdir), { "condition called", "hook ran", "ran inner", "ran skipif false", "started" })
  end)

  it("skipif: a boolean or a function called at collection, its string the reason", function(tmpdir)
    local path = spec_file(tmpdir, "c_spec.lua", [[
it("true", function() end, { skipif = true })
it("false", function() end, { skipif = false })
it("function", function() end, { skipif = function() return "because" end })
it("function false", function() end, { skipif = function() return nil end })
it("with reason", function() end, { skipif = { function() return true end, "given reason" } })
]])
    local r = run { "-v", path }
    eq(r.last, "2 passed, 0 failed, 3 skipped")
    contains(r.out, "SKIP " .. path .. "::true (0.00 ms): skipif condition is true\n")
    contains(r.out, "SKIP " .. path .. "::function (0.00 ms): because\n")
    contains(r.out, "SKIP " .. path .. "::with reason (0.00 ms): given reason\n")
    contains(r.out, "PASS " .. path .. "::function false (")
    write_file(path, "it('x', function() end, { skipif = function() error('no idea') end })\n")
    r = run { path }
    eq(r.code, 2)
    contains(r.out, "x: its skipif condition raised: ")
    contains(r.out, "no idea")
  end)
end)

describe("xfail", function()
  local BODY = [[
it("fails", function() error("boom") end, { xfail = "known bug" })
it("asserts", function() assert(false) end, { xfail = true })
it("passes", function() end, { xfail = "was a bug" })
it("strict", function() end, { xfail = { reason = "must fail", strict = true } })
it("strict fails", function() error("x") end, { xfail = { reason = "must fail", strict = true } })
describe("block", function()
  it("inherits", function() error("y") end)
  it("cancels", function() end, { xfail = false })
end, { xfail = "the block's" })
test_g = luatest.test(function() error("z") end, { xfail = "global" })
]]

  it("counts a failure as skipped (xfail: reason), a pass as passed (XPASS), strict as failed", function(tmpdir)
    local path = spec_file(tmpdir, "x_spec.lua", BODY)
    local r = run { "-v", path }
    eq(r.code, 1)
    eq(r.last, "2 passed, 1 failed, 5 skipped")
    local p = path .. "::"
    contains(r.out, "XFAIL " .. p .. "fails (")
    contains(r.out, "): xfail: known bug\n")
    contains(r.out, "XFAIL " .. p .. "asserts (")
    contains(r.out, "XPASS " .. p .. "passes (")
    contains(r.out, "): was a bug\n")
    contains(r.out, "XFAIL " .. p .. "strict fails (")
    contains(r.out, "XFAIL " .. p .. "block > inherits (")
    contains(r.out, "): xfail: the block's\n")
    contains(r.out, "PASS " .. p .. "block > cancels (")
    contains(r.out, "XFAIL " .. p .. "test_g (")
    contains(r.out, "\nFAIL " .. p .. "strict\n")
    contains(r.out, "[XPASS(strict)] must fail\n")
    -- The progress characters are pytest's.
    contains(run({ path }).out, path .. " xxXFxx.x\n")
  end)

  it("shows in TAP, JUnit and JSON, and across -j", function(tmpdir)
    local path = spec_file(tmpdir, "x_spec.lua", BODY)
    local tap = run { "--output", "tap", path }.out
    contains(tap, "not ok 1 - " .. path .. "::fails # TODO known bug\n")
    contains(tap, "ok 3 - " .. path .. "::passes # TODO was a bug\n")
    contains(tap, "not ok 4 - " .. path .. "::strict\n")
    local xml = tmpdir .. "/junit.xml"
    run { "--junit-xml", xml, path }
    local doc = support.read_junit(xml)
    same(doc.counts, { "testsuites", 8, 1, 0, 5, doc.counts[6] })
    local kids = {}
    for _, case in ipairs(doc.suites[1].cases) do
      local k = case.kids[1]
      kids[case.name] = k and (k.tag .. ":" .. tostring(k.type) .. ":" .. tostring(k.message)) or "pass"
    end
    eq(kids.fails, "skipped:xfail:xfail: known bug")
    eq(kids.passes, "pass")
    eq(kids.strict, "failure:assertion:[XPASS(strict)] must fail")
    local json = require("luatest.json").decode(run({ "--output", "json", path }).out)
    local by = {}
    for _, t in ipairs(json.tests) do
      by[t.name] = t.status .. "/" .. t.outcome .. "/" .. tostring(t.message)
    end
    eq(by.fails, "skipped/xfailed/xfail: known bug")
    eq(by.passes, "passed/xpassed/was a bug")
    eq(by.strict, "failed/failed/[XPASS(strict)] must fail")
    local serial, par = run { "-v", path }, run { "-v", "-j", "2", path }
    eq(par.last, serial.last)
    contains(par.out, "XPASS " .. path .. "::passes (")
    contains(par.out, "XFAIL " .. path .. "::fails (")
  end)
end)

describe("options", function()
  it("timeout: the nearest wins, describe's applying inside", function(tmpdir)
    local path = spec_file(tmpdir, "t_spec.lua", [[
describe("quick", function()
  it("naps", function() luatest.sleep(0.5) end)
  it("may nap", function() luatest.sleep(0.3) end, { timeout = 5 })
end, { timeout = 0.1 })
test_g = luatest.test(function() luatest.sleep(0.3) end, { timeout = 0.05 })
]])
    local r = run { path }
    eq(r.last, "1 passed, 2 failed")
    contains(r.out, "timeout: the test did not finish within 0.1 s")
    contains(r.out, "timeout: the test did not finish within 0.05 s")
  end)

  it("marks show in the JSON report", function(tmpdir)
    local path = spec_file(tmpdir, "m_spec.lua", MARKED)
    local json = require("luatest.json").decode(run({ "--output", "json", path }).out)
    same(json.tests[1].marks, { "net", "fast" })
    same(json.tests[3].marks, { "net", "deep" })
    same(json.tests[5].marks, {})
  end)

  it("that are wrong are errors naming the call and the option", function(tmpdir)
    for body, why in pairs {
      ["it('x', function() end, { skp = 1 })"] = "it: unknown option 'skp' (known: marks, skip, skipif, xfail, timeout)",
      ["describe('x', function() end, { xfail = 3 })"] =
        "describe: xfail: expected a reason string, true or {reason =, strict =}, got number",
      ["test_x = luatest.test(function() end, { marks = {'a b'} })"] = "test: marks: expected mark names",
      ["it('x', function() end, { skipif = 'yes' })"] =
        "it: skipif: expected a boolean or a function (or {cond, reason}), got string",
      ["it('x', function() end, { timeout = -1 })"] = "it: expected a number of seconds >= 0 (0 = no limit), got -1",
      ["pending(3)"] = "pending: expected a name string as argument 1, got number",
    } do
      local path = spec_file(tmpdir, "bad_spec.lua", body .. "\n")
      local r = run { path }
      eq(r.code, 2, r.out)
      contains(r.out, path .. ":9: " .. why)
    end
  end)
end)
