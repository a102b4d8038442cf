-- The runner's machine-readable reports: TAP 13, JUnit XML (read back with
-- python3's ElementTree) and JSON.
local unpack = table.unpack or unpack
local luatest = require "luatest"
local eq, contains, match, same = luatest.eq, luatest.contains, luatest.match, luatest.same

local HERE = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
local DATA = HERE .. "/data/runner/"
local support = dofile(HERE .. "/support/runner.lua")
local run, write_file, lines_of, read_junit = support.run, support.write_file, support.lines_of, support.read_junit

luatest.fixture("tmpdir", support.tmpdir)

describe("--output tap", function()
  it("writes TAP 13: a line per test, YAML under failures, skips as directives, the plan", function()
    local r = run { "--output", "tap", DATA .. "sample_mixed.lua" }
    eq(r.code, 1)
    local p = DATA .. "sample_mixed.lua::"
    eq(r.out:match("^[^\n]*"), "TAP version 13")
    contains(r.out, "\nok 1 - " .. p .. "test_pass\n")
    contains(r.out, "\nnot ok 3 - " .. p .. "block > fails with eq\n  ---\n  message: \"" .. DATA
      .. "sample_mixed.lua:14: eq: values differ\\n  left:  41\\n  right: 42\"\n  severity: fail\n"
      .. "  at:\n    file: \"" .. DATA .. "sample_mixed.lua\"\n    line: 14\n")
    contains(r.out, "\nnot ok 5 - " .. p .. "test_error\n  ---\n")
    contains(r.out, "  severity: error\n")
    contains(r.out, "\nok 6 - " .. p .. "test_skipped # SKIP not today\n")
    contains(r.out, "\n1..7\n")
    eq(r.last, "# 2 passed, 4 failed, 1 skipped")
    for _, line in ipairs(lines_of(r.out)) do
      assert(line == "TAP version 13" or line:find("^ok %d") or line:find("^not ok %d") or line:find("^#")
        or line:find("^1%.%.%d+$") or line:find("^  "), "not TAP: " .. line)
    end
  end)

  it("bails out when a file does not load", function()
    local r = run { "--output", "tap", DATA .. "sample_syntax.lua" }
    eq(r.code, 2)
    contains(r.out, "\nBail out! cannot load " .. DATA .. "sample_syntax.lua: " .. DATA .. "sample_syntax.lua:2:")
  end)
end)

describe("JUnit XML", function()
  it("has a testsuite per file and escapes what it holds (--output junit)", function()
    local r = run { "--output", "junit", DATA .. "sample_report.lua", DATA .. "sample_mixed.lua" }
    eq(r.code, 1)
    eq(r.out:sub(1, 38), '<?xml version="1.0" encoding="UTF-8"?>')
    local path = os.tmpname()
    write_file(path, r.out)
    local doc = read_junit(path)
    os.remove(path)
    eq(doc.counts[1], "testsuites")
    same({ unpack(doc.counts, 2, 5) }, { 11, 4, 2, 2 })
    eq(#doc.suites, 2)
    local suite = doc.suites[1]
    eq(suite.name, DATA .. "sample_report.lua")
    same({ unpack(suite.counts, 2, 5) }, { 4, 1, 1, 1 })
    local class = (DATA:gsub("^%./", ""):gsub("/", ".")) .. "sample_report"
    local pass, fail, err, skip = unpack(suite.cases)
    same({ pass.classname, pass.name, pass.file, pass.line, #pass.kids }, { class, "test_pass", DATA
      .. "sample_report.lua", "4", 0 })
    eq(fail.name, 'names with <tags> & "quotes" > fails with \'special\' characters')
    eq(fail.kids[1].tag, "failure")
    contains(fail.kids[1].message, DATA .. "sample_report.lua:8: eq: values differ\n  left:  "
      .. '"<a href=\\"x\\">&amp;</a>"\n  right: "\\1\\27[31m\239\191\189"')
    contains(fail.kids[1].text, "stack traceback:")
    eq(err.kids[1].tag, "error")
    contains(err.kids[1].message, "plain error")
    eq(skip.kids[1].tag, "skipped")
    eq(skip.kids[1].message, "skipped: <because> & so")
    eq(doc.suites[2].name, DATA .. "sample_mixed.lua")
  end)

  it("goes to a file as well as the text report with --junit-xml", function(tmpdir)
    local path = tmpdir .. "/junit.xml"
    local r = run { "--junit-xml", path, DATA .. "sample_mixed.lua" }
    eq(r.code, 1)
    eq(r.last, "2 passed, 4 failed, 1 skipped")
    local doc = read_junit(path)
    same({ unpack(doc.suites[1].counts, 2, 5) }, { 7, 3, 1, 1 })
    r = run { "--junit-xml", tmpdir .. "/no/such/dir/x.xml", DATA .. "sample_mixed.lua" }
    eq(r.code, 2)
    contains(r.err, "--junit-xml: cannot write")
  end)
end)

describe("--output json", function()
  local r, doc
  before_each(function()
    if not r then
      r = run { "-s", "--output", "json", DATA .. "sample_mixed.lua", DATA .. "sample_order.lua" }
      doc = require("luatest.json").decode(r.out) -- the whole of stdout is one document
    end
  end)

  it("lists every test with id, file, line, status, duration and message", function()
    eq(#doc.tests, 11)
    local by_id = {}
    for _, t in ipairs(doc.tests) do
      by_id[t.id] = t
      assert(type(t.duration) == "number" and t.duration >= 0)
    end
    local t = by_id[DATA .. "sample_mixed.lua::block > fails with eq"]
    same({ t.file, t.name, t.line, t.status }, { DATA .. "sample_mixed.lua", "block > fails with eq", 12, "failed" })
    contains(t.message, DATA .. "sample_mixed.lua:14: eq: values differ")
    contains(t.details, "    got = 41")
    eq(by_id[DATA .. "sample_mixed.lua::test_error"].status, "error")
    eq(by_id[DATA .. "sample_mixed.lua::test_skipped"].status, "skipped")
    eq(by_id[DATA .. "sample_mixed.lua::test_skipped"].message, "not today")
    eq(by_id[DATA .. "sample_mixed.lua::test_pass"].status, "passed")
  end)

  it("has the totals and the exit code, and sends what tests print to stderr", function()
    same(doc.totals, { passed = 5, failed = 5, errors = 2, skipped = 1, deselected = 0, total = 11 })
    eq(doc.exit_code, 1)
    eq(r.code, 1)
    contains(r.err, "LOG<setup base")
    assert(not r.out:find("LOG<", 1, true))
  end)
end)
