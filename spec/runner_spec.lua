-- The runner: discovery, definition order, fixtures and their teardown,
-- hooks, the command line, exit codes, the reports (text, TAP, JUnit,
-- JSON), selection and order (-k, --lf, --shard, --shuffle), time limits,
-- worker processes (-j) and .luatest.lua. Most tests run
-- the luatest binary (LUATEST_BIN, default ./luatest) on the sample files
-- under spec/data/runner/, whose names the discovery patterns do not match.
local unpack = table.unpack or unpack
local luatest = require "luatest"
local core = require "luatest.core"
local eq, contains, match, raises, same, near = luatest.eq, luatest.contains, luatest.match, luatest.raises,
  luatest.same, luatest.near

local BIN = os.getenv("LUATEST_BIN") or "./luatest"
local HERE = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
local DATA = HERE .. "/data/runner/"

local function quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

local function last_line(s)
  return s:match("([^\n]*)\n?$")
end

-- Runs the binary with the given arguments (a list), in the directory
-- `dir` if given; returns a table with out, err, code and last (the last
-- line of stdout).
local function run(args, env_prefix, dir)
  local parts = {}
  for i, a in ipairs(args) do
    parts[i] = quote(a)
  end
  local bin = BIN
  if dir and bin:sub(1, 1) ~= "/" then
    local p = assert(io.popen("pwd"))
    bin = p:read("*l") .. "/" .. bin
    p:close()
  end
  local cmd = (dir and ("cd " .. quote(dir) .. " && ") or "") .. (env_prefix or "") .. quote(bin) .. " "
    .. table.concat(parts, " ")
  -- (core.exec, not io.popen: a popen's close gives no exit code before 5.2.)
  local r = assert(core.exec({ "sh", "-c", cmd }, { timeout = 120 }))
  return { out = r.stdout, err = r.stderr, code = r.status, last = last_line(r.stdout) }
end

local function write_file(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

-- A directory of spec files for discovery, made in a temporary directory
-- (under spec/ their names would be collected by the main suite).
luatest.fixture("tree", function()
  local base = os.tmpname()
  os.remove(base)
  local dir = base .. ".tree"
  assert(os.execute("mkdir -p " .. quote(dir .. "/sub") .. " " .. quote(dir .. "/.hidden")))
  write_file(dir .. "/b_spec.lua", "function test_one() end\n")
  write_file(dir .. "/a_spec.lua", "function test_x() end\n")
  write_file(dir .. "/sub/test_a.lua", "function test_two() end\n")
  write_file(dir .. "/helper.lua", "function test_no() error('not collected') end\n")
  write_file(dir .. "/.hidden/x_spec.lua", "function test_hidden() end\n")
  return dir, function()
    os.execute("rm -rf " .. quote(dir))
  end
end, { scope = "file" })

-- An empty temporary directory for one test.
luatest.fixture("tmpdir", function()
  local base = os.tmpname()
  os.remove(base)
  local dir = base .. ".dir"
  assert(os.execute("mkdir -p " .. quote(dir)))
  return dir, function()
    os.execute("rm -rf " .. quote(dir))
  end
end)

-- Six spec files holding 1 to 6 tests, for --shard and --shuffle.
luatest.fixture("many", function()
  local base = os.tmpname()
  os.remove(base)
  local dir = base .. ".many"
  assert(os.execute("mkdir -p " .. quote(dir)))
  for i = 1, 6 do
    local lines = {}
    for j = 1, i do
      lines[j] = string.format("function test_%d_%d() end", i, j)
    end
    write_file(string.format("%s/m%d_spec.lua", dir, i), table.concat(lines, "\n") .. "\n")
  end
  return dir, function()
    os.execute("rm -rf " .. quote(dir))
  end
end, { scope = "file" })

local function lines_of(s)
  local out = {}
  for line in s:gmatch("[^\n]+") do
    out[#out + 1] = line
  end
  return out
end

local function sorted(list)
  local copy = { unpack(list) }
  table.sort(copy)
  return copy
end

-- The ids of the failures a text report lists, sorted.
local function failure_ids(out)
  local ids = {}
  for line in out:gmatch("[^\n]+") do
    local id = line:match("^FAIL (.+)$") or line:match("^ERROR (.+)$")
    if id then
      ids[#ids + 1] = id
    end
  end
  return sorted(ids)
end

local function before(s, a, b)
  local i, j = s:find(a, 1, true), s:find(b, 1, true)
  assert(i, "missing: " .. a)
  assert(j, "missing: " .. b)
  return i < j
end

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

describe("definition order, hooks and fixtures", function()
  it("lists tests in definition order across the forms", function()
    local r = run { "--list", DATA .. "sample_order.lua", DATA .. "sample_case.lua" }
    eq(r.code, 0)
    local p, c = DATA .. "sample_order.lua::", DATA .. "sample_case.lua::"
    eq(r.out, table.concat({
      p .. "test_a",
      p .. "outer > inner > x",
      p .. "test_b",
      p .. "test_z_print_log",
      c .. "test_first",
      c .. "Case.test_one",
      c .. "Case.test_two",
      c .. "Case.test_skipped",
      c .. "test_last",
    }, "\n") .. "\n")
  end)

  it("runs hooks outer first before, inner first after, sharing fixture values", function()
    local r = run { DATA .. "sample_order.lua" }
    eq(r.code, 1)
    eq(r.last, "3 passed, 1 failed")
    contains(r.out, "LOG<" .. table.concat({
      "setup base", "setup sess", "setup filefix", "setup derived", "test_a BSF",
      "teardown derived", "teardown base",
      "setup base", "outer before B", "inner before", "it x B", "setup derived", "inner after BSF",
      "outer after", "teardown derived", "teardown base",
      "test_b",
    }, "|") .. ">")
  end)

  it("tears file fixtures down after the file and session ones at the end", function()
    local r = run { DATA .. "sample_order.lua" }
    assert(before(r.out, "LOG<", "TEARDOWN filefix"))
    assert(before(r.out, "TEARDOWN filefix", "TEARDOWN sess"))
    assert(before(r.out, "TEARDOWN sess", r.last))
  end)

  it("runs AioHTTPTestCase methods with their setup and teardown", function()
    local r = run { "-v", DATA .. "sample_case.lua" }
    contains(r.out, "CALLS<test_first,setup,Case.test_one,teardown,setup,Case.test_two,teardown,"
      .. "setup,Case.test_skipped,teardown>")
    contains(r.out, DATA .. "sample_case.lua:34: eq: values differ")
    contains(r.out, "SKIP " .. DATA .. "sample_case.lua::Case.test_skipped (")
    eq(r.last, "3 passed, 1 failed, 1 skipped")
  end)
end)

describe("fixture errors", function()
  local r
  before_each(function()
    r = r or run { DATA .. "sample_misc.lua" }
  end)

  it("names an unknown fixture and lists the available ones", function()
    contains(r.out, "unknown fixture 'nosuch' requested by test_unknown; available fixtures: "
      .. "aiohttp_client, aiohttp_raw_server, aiohttp_server, aiohttp_unused_port, broken_teardown, loop, loop_a, "
      .. "loop_b, narrow, wide\n")
  end)

  it("refuses a wider fixture using a narrower one, and cycles", function()
    contains(r.out, "fixture 'narrow' has function scope and cannot be used by fixture 'wide', which has session scope")
    contains(r.out, "fixture 'loop_a' depends on itself (requested by fixture 'loop_b')")
  end)

  it("reports a failing teardown", function()
    contains(r.out, "error in the teardown of fixture 'broken_teardown':\n" .. DATA .. "sample_misc.lua:92: teardown exploded")
  end)
end)

describe("tasks", function()
  local r
  before_each(function()
    r = r or run { "-v", DATA .. "sample_misc.lua" }
  end)

  it("runs spawn and gather concurrently", function()
    contains(r.out, "PASS " .. DATA .. "sample_misc.lua::test_spawn_gather (")
    contains(r.out, "PASS " .. DATA .. "sample_misc.lua::test_gather_error (")
    contains(r.out, "PASS " .. DATA .. "sample_misc.lua::test_helpers (")
  end)

  it("shows where a spawned task raised the error that wait re-raises", function()
    contains(r.out, "raised in a spawned task, at:\n")
    contains(r.out, DATA .. "sample_misc.lua:20: in function <" .. DATA .. "sample_misc.lua:18>")
  end)

  it("fails a test that leaves tasks running, naming where each was spawned", function()
    contains(r.out, "FAIL " .. DATA .. "sample_misc.lua::test_left_running")
    contains(r.out, "the test left 2 objects open:\n  task created at " .. DATA .. "sample_misc.lua:41\n"
      .. "  task created at " .. DATA .. "sample_misc.lua:45\n")
    contains(r.out, "the test left 1 object open:\n  task created at " .. DATA .. "sample_misc.lua:99\n")
  end)

  it("fails a test that waits on something that can never happen, naming what and where", function()
    -- At once ("nothing is left that could wake it") when the core sees
    -- that no handle is left, else when the file's time limit passes.
    local id = DATA .. "sample_misc.lua::test_waits_forever ("
    assert(r.out:find("ERROR " .. id, 1, true) or r.out:find("FAIL " .. id, 1, true), r.out)
    match(r.out, DATA:gsub("%p", "%%%0") .. "sample_misc%.lua:71: [^\n]* wait[a-z]* on task:wait")
  end)
end)

describe("the aiohttp fixtures", function()
  local r
  before_each(function()
    r = r or run { "-v", DATA .. "sample_web.lua" }
  end)

  it("start clients and servers and close them all", function()
    contains(r.out, "PASS " .. DATA .. "sample_web.lua::test_client (")
    contains(r.out, "PASS " .. DATA .. "sample_web.lua::test_server_then_client (")
    contains(r.out, "PASS " .. DATA .. "sample_web.lua::test_raw (")
    contains(r.out, "CLOSED<c2,s2,c1,s1>")
  end)

  it("name a wrong argument", function()
    contains(r.out, DATA .. "sample_web.lua:24: aiohttp_client: expected an Application, TestServer, "
      .. "RawTestServer or FaultProxy, got number")
  end)

  it("leave a hand-made server to the leak check, which names where it was created", function()
    contains(r.out, "the test left 1 object open:\n  server created at " .. DATA .. "sample_web.lua:29")
  end)

  it("show handler tracebacks with the failing test", function()
    contains(r.out, "handler errors:\n    GET /boom: " .. DATA .. "sample_web.lua:8: handler boom")
  end)

  it("count", function()
    eq(r.code, 1)
    eq(r.last, "4 passed, 3 failed")
  end)
end)

describe("the command line", function()
  it("selects with -k, case-insensitive, repeatable", function(tree)
    local r = run { "--list", "-k", "ONE", "-k", "sub/", tree }
    eq(r.out, tree .. "/b_spec.lua::test_one\n" .. tree .. "/sub/test_a.lua::test_two\n")
    r = run { "-kTEST_X", tree }
    eq(r.code, 0)
    eq(r.last, "1 passed, 0 failed")
  end)

  it("discovers *_spec.lua and test_*.lua recursively, sorted", function(tree)
    local r = run { "--list", tree .. "/" }
    eq(r.out, table.concat({
      tree .. "/a_spec.lua::test_x",
      tree .. "/b_spec.lua::test_one",
      tree .. "/sub/test_a.lua::test_two",
    }, "\n") .. "\n")
  end)

  it("stops after the first failure with -x and counts only what ran", function()
    local r = run { "-x", DATA .. "sample_mixed.lua" }
    eq(r.code, 1)
    eq(r.last, "2 passed, 1 failed")
  end)

  it("exits 5 when nothing is collected or selected", function(tree)
    local r = run { DATA .. "sample_empty.lua" }
    eq(r.code, 5)
    eq(r.last, "0 passed, 0 failed")
    r = run { "-k", "nomatch", tree }
    eq(r.code, 5)
    contains(r.out, "no tests selected (3 deselected)")
    eq(r.last, "0 passed, 0 failed")
  end)

  it("exits 2 on a file that does not load, with the position", function(tree)
    local r = run { DATA .. "sample_syntax.lua", tree }
    eq(r.code, 2)
    contains(r.out, DATA .. "sample_syntax.lua:2: <name> or '...' expected near 'end'")
    eq(r.last, "0 passed, 0 failed")
    r = run { DATA .. "sample_load_error.lua" }
    eq(r.code, 2)
    match(r.out, DATA:gsub("%p", "%%%0") .. "sample_load_error.lua:2: attempt to index [^\n]*local 'x'")
    r = run { "--list", DATA .. "sample_syntax.lua" }
    eq(r.code, 2)
    contains(r.err, "cannot load " .. DATA .. "sample_syntax.lua")
  end)

  it("exits 2 on bad usage, with a message on stderr", function()
    for _, args in ipairs { { "--bogus" }, { "-k" }, { "-Z" }, { DATA .. "no/such/dir" } } do
      local r = run(args)
      eq(r.code, 2)
      eq(r.out, "")
      match(r.err, "^luatest: .+%(see luatest %-%-help%)\n$")
    end
  end)

  it("skips a whole file that calls skip while loading", function()
    local r = run { "-v", DATA .. "sample_file_skip.lua" }
    eq(r.code, 0)
    contains(r.out, "SKIP " .. DATA .. "sample_file_skip.lua (0.00 ms): needs a GPU")
    eq(r.last, "0 passed, 0 failed, 1 skipped")
  end)

  it("loads an explicit file whatever its name, once", function(tree)
    local r = run { tree, tree .. "/a_spec.lua", tree .. "/helper.lua" }
    eq(r.code, 1)
    eq(r.last, "3 passed, 1 failed")
    contains(r.out, "not collected")
  end)

  it("documents every flag in --help", function()
    local r = run { "--help" }
    eq(r.code, 0)
    local flags = { "-k PATTERN", "-x", "--list", "-v", "-q", "--no-color", "--env", "--version", "--help",
      "--output FORMAT", "--junit-xml FILE", "--durations N", "--shuffle", "--seed N", "--lf", "--timeout S",
      "-j N", "--shard K/N", ".luatest.lua" }
    for _, flag in ipairs(require("luatest.runner").FLAGS) do
      flags[#flags + 1] = flag
    end
    for _, flag in ipairs(flags) do
      contains(r.out, flag)
    end
  end)

  it("prints the version and the environment", function()
    local core = require "luatest.core"
    local r = run { "--version" }
    eq(r.out:match("^[^\n]*\n"), "luatest " .. core.version .. "\n")
    r = run({ "--env" }, "unset LUA_PATH LUA_PATH_5_4 LUA_CPATH LUA_CPATH_5_4; ")
    eq(r.code, 0)
    -- The names this runtime reads first; the libraries of the binary's
    -- own build.
    local dir = core.srcdir
    local minor = _VERSION:match("^Lua 5%.(%d+)$")
    local suffix = minor ~= "1" and "_5_" .. minor or ""
    local libdir = (os.getenv("LUATEST_BIN") or ""):match("^(.*)/[^/]*$")
    libdir = libdir and core.stat(libdir .. "/lib/luatest/core.so") and libdir .. "/lib" or dir .. "/lib"
    eq(r.out, "export LUA_PATH" .. suffix .. "='" .. dir .. "/lua/?.lua;" .. dir .. "/lua/?/init.lua;;'\n"
      .. "export LUA_CPATH" .. suffix .. "='" .. libdir .. "/?.so;;'\n")
  end)

  it("uses no colour with --no-color or NO_COLOR", function(tree)
    local r = run({ "--no-color", tree }, "NO_COLOR=1 ")
    assert(not r.out:find("\27[", 1, true))
    eq(r.last, "3 passed, 0 failed")
  end)
end)

-- ---- readable failures ------------------------------------------------------------------

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

-- ---- reports -----------------------------------------------------------------------------

-- What python3's ElementTree reads in a JUnit file, as a Lua table.
local function read_junit(path)
  local script = [[
import json, sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
def counts(e):
    return [e.tag] + [int(e.get(k)) for k in ("tests", "failures", "errors", "skipped")] + [float(e.get("time"))]
suites = []
for s in root:
    cases = []
    for c in s:
        kids = [{"tag": k.tag, "message": k.get("message"), "type": k.get("type"), "text": k.text} for k in c]
        cases.append({"classname": c.get("classname"), "name": c.get("name"), "file": c.get("file"),
                      "line": c.get("line"), "time": float(c.get("time")), "kids": kids})
    suites.append({"name": s.get("name"), "counts": counts(s), "cases": cases})
print(json.dumps({"counts": counts(root), "suites": suites}))
]]
  local r = assert(core.exec({ "python3", "-c", script, path }, { timeout = 60 }))
  assert(r.status == 0, "python3 could not read the JUnit XML: " .. r.stdout .. r.stderr)
  return require("luatest.json").decode(r.stdout)
end

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
      r = run { "--output", "json", DATA .. "sample_mixed.lua", DATA .. "sample_order.lua" }
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
    same(doc.totals, { passed = 5, failed = 5, skipped = 1, deselected = 0, total = 11 })
    eq(doc.exit_code, 1)
    eq(r.code, 1)
    contains(r.err, "LOG<setup base")
    assert(not r.out:find("LOG<", 1, true))
  end)
end)

-- ---- time limits ---------------------------------------------------------------------------

describe("time limits", function()
  local r, took
  before_each(function()
    if not r then
      local core = require "luatest.core"
      local t0 = core.hrtime()
      r = run { "-v", "--durations", "2", DATA .. "sample_timeout.lua" }
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

-- ---- selection and order -------------------------------------------------------------------

describe("--shuffle and --seed", function()
  it("shuffle files and the tests of each file, the same way for the same seed", function(many)
    local plain = lines_of(run({ "--list", many }).out)
    local a = lines_of(run({ "--list", "--seed", "42", many }).out)
    same(lines_of(run({ "--list", "--seed", "42", many }).out), a)
    same(sorted(a), sorted(plain))
    assert(table.concat(a, " ") ~= table.concat(plain, " "))
    assert(table.concat(a, " ") ~= table.concat(lines_of(run({ "--list", "--seed", "43", many }).out), " "))
    -- The files are in another order, each file's tests still together.
    local files, seen = {}, {}
    for _, id in ipairs(a) do
      local file = id:match("^(.*)::")
      if files[#files] ~= file then
        assert(not seen[file], "the tests of " .. file .. " are not together")
        seen[file] = true
        files[#files + 1] = file
      end
    end
    eq(#files, 6)
    assert(table.concat(files, " ") ~= table.concat(sorted(files), " "))
  end)

  it("print the seed first, and the seed replays the order", function(many)
    local function order(out)
      local ids = {}
      for id in out:gmatch("\nPASS ([^\n]-) %(") do
        ids[#ids + 1] = id
      end
      return ids
    end
    local r = run { "-v", "--shuffle", many }
    local seed = r.out:match("^seed: (%d+) %(tests shuffled; replay this order with %-%-seed %d+%)\n")
    assert(seed, r.out)
    eq(r.last, "21 passed, 0 failed")
    local again = run { "-v", "--seed", seed, many }
    contains(again.out, "seed: " .. seed .. " (")
    same(order(again.out), order(r.out))
    eq(#order(r.out), 21)
  end)
end)

describe("--lf", function()
  it("reruns what failed last time, and everything when nothing did", function(tmpdir)
    write_file(tmpdir .. "/a_spec.lua", "function test_ok() end\nfunction test_bad() assert(os.getenv('FIXED')) end\n")
    write_file(tmpdir .. "/b_spec.lua", "function test_other() end\n")
    local r = run({ "--lf", "." }, nil, tmpdir)
    contains(r.out, "run-last-failure: no previously failed tests, running all of them\n")
    eq(r.last, "2 passed, 1 failed")
    local f = assert(io.open(tmpdir .. "/.luatest_cache/lastfailed"))
    contains(f:read("*a"), '"a_spec.lua::test_bad": true')
    f:close()
    r = run({ "--lf", "-v", "." }, nil, tmpdir)
    contains(r.out, "run-last-failure: rerunning 1 test that failed last time\n")
    contains(r.out, "FAIL a_spec.lua::test_bad (")
    eq(r.last, "0 passed, 1 failed")
    r = run({ "--lf", "." }, "FIXED=1 ", tmpdir)
    eq(r.last, "1 passed, 0 failed")
    r = run({ "--lf", "." }, "FIXED=1 ", tmpdir)
    contains(r.out, "no previously failed tests")
    eq(r.last, "3 passed, 0 failed")
  end)

  it("reruns a file that did not load", function(tmpdir)
    write_file(tmpdir .. "/a_spec.lua", "function test_a() end\n")
    write_file(tmpdir .. "/c_spec.lua", "function test_c( end\n")
    eq(run({ "." }, nil, tmpdir).code, 2)
    write_file(tmpdir .. "/c_spec.lua", "function test_c() end\nfunction test_d() end\n")
    local r = run({ "--lf", "--list", "." }, nil, tmpdir)
    eq(r.out, "c_spec.lua::test_c\nc_spec.lua::test_d\n")
  end)
end)

describe("--shard", function()
  it("splits the suite into even parts by file, whose union is the whole", function(many)
    local all = lines_of(run({ "--list", many }).out)
    local seen, counts = {}, {}
    for k = 1, 3 do
      local r = run { "--list", "--shard", k .. "/3", many }
      eq(r.code, 0)
      local files = {}
      for _, id in ipairs(lines_of(r.out)) do
        assert(not seen[id], "in two shards: " .. id)
        seen[id] = k
        files[id:match("^(.*)::")] = true
      end
      counts[k] = #lines_of(r.out)
      for file in pairs(files) do
        for _, id in ipairs(all) do
          if id:match("^(.*)::") == file then
            eq(seen[id], k) -- a file is never split
          end
        end
      end
    end
    for _, id in ipairs(all) do
      assert(seen[id], "in no shard: " .. id)
    end
    same(counts, { 7, 7, 7 })
  end)

  it("runs one part, and refuses bad values", function(many)
    local r = run { "--shard", "2/3", many }
    contains(r.out, "shard 2/3: 7 tests in 2 files\n")
    eq(r.last, "7 passed, 0 failed")
    for _, v in ipairs { "0/3", "4/3", "1/0", "x", "1/2/3", "" } do
      local bad = run { "--shard", v, many }
      eq(bad.code, 2)
      contains(bad.err, "option --shard: expected K/N with 1 <= K <= N")
    end
  end)
end)

-- ---- worker processes ------------------------------------------------------------------------

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

-- ---- .luatest.lua ------------------------------------------------------------------------------

describe(".luatest.lua", function()
  it("gives defaults that the command line overrides", function(tmpdir)
    write_file(tmpdir .. "/t_spec.lua", "function test_a() end\nfunction test_b() end\n")
    write_file(tmpdir .. "/.luatest.lua", 'return { paths = {"t_spec.lua"}, keywords = "test_A", verbose = true }\n')
    local r = run({}, nil, tmpdir)
    contains(r.out, "PASS t_spec.lua::test_a (")
    eq(r.last, "1 passed, 0 failed")
    r = run({ "-q", "-k", "test_b" }, nil, tmpdir)
    eq(r.out, ".\n1 passed, 0 failed\n")
    write_file(tmpdir .. "/.luatest.lua", 'return { paths = "t_spec.lua", k = {"nothing", "TEST_B"}, timeout = 5 }\n')
    eq(run({}, nil, tmpdir).last, "1 passed, 0 failed")
  end)

  it("stops with exit 2 and the reason when it does not load or is wrong", function(tmpdir)
    write_file(tmpdir .. "/t_spec.lua", "function test_a() end\n")
    for text, reason in pairs {
      ["return {"] = ".luatest.lua:1: unexpected symbol near ",
      ['error("no config today")'] = ".luatest.lua:1: no config today",
      ["return { bogus = 1 }"] = "unknown option 'bogus'",
      ["return { timeout = 'soon' }"] = "option 'timeout': expected a number of seconds >= 0",
      ["return { no_color = 1 }"] = "option 'no_color' must be true or false",
      ["return 1"] = "must return a table of options",
    } do
      write_file(tmpdir .. "/.luatest.lua", text)
      local r = run({ "t_spec.lua" }, nil, tmpdir)
      eq(r.code, 2)
      eq(r.out, "")
      contains(r.err, reason)
    end
  end)
end)

-- ---- the assertion helpers, in this process --------------------------------------------

local function message(fn)
  local err = raises(fn)
  return tostring(err)
end

function test_eq_shows_both_values()
  eq(eq(1, 1), 1)
  local m = message(function() eq("a", 1) end)
  match(m, "^spec/runner_spec%.lua:%d+: eq: values differ\n  left:  \"a\"\n  right: 1$")
end

function test_same_names_the_path_of_the_first_difference()
  same({ 1, { x = { y = 2 } } }, { 1, { x = { y = 2 } } })
  local cyc_a, cyc_b = {}, {}
  cyc_a.self, cyc_b.self = cyc_a, cyc_b
  same(cyc_a, cyc_b)
  contains(message(function() same({ 1, { x = { y = 2 } } }, { 1, { x = { y = 3 } } }) end),
    "same: values differ at [2].x.y\n  left:  2\n  right: 3")
  contains(message(function() same({ a = 1 }, { a = 1, ["b c"] = true }) end), "at [\"b c\"]\n  left:  nil\n  right: true")
  contains(message(function() same(1, "1") end), "same: values differ\n  left:  1\n  right: \"1\"")
end

function test_match_contains_near_raises()
  eq(match("key=value", "^(%w+)="), "key")
  contains(message(function() match("abc", "^b") end), "match: \"abc\" does not match the pattern \"^b\"")
  contains("hello (world)", "(world)")
  contains({ "a", { 1 } }, { 1 })
  contains(message(function() contains({ 1, 2 }, 3) end), "contains: {1, 2} does not contain 3")
  contains(message(function() contains("abc", "%a") end), "contains: \"abc\" does not contain \"%a\"")
  near(1.0, 1.05, 0.1)
  contains(message(function() near(1, 2, 0.5) end), "near: values differ by 1, more than the tolerance 0.5")
  contains(message(function() raises(function() end) end), "raises: the function did not raise an error")
  contains(message(function() raises(function() error("x") end, "y") end), "raises: the error")
  local e = raises(function() error({ code = 7 }) end)
  eq(e.code, 7)
end

function test_misuse_is_an_error_not_a_failure()
  local err = raises(function() contains(42, 1) end)
  eq(type(err), "string")
  contains(err, "contains: expected a string or a table as argument 1, got number")
  contains(raises(function() luatest.spawn(42) end), "spawn: expected a function as argument 1, got number")
  contains(raises(function() luatest.gather(function() end, 1) end), "gather: argument 2 is not a function")
  contains(raises(function() luatest.fixture("x", 1) end), "fixture 'x': expected a function as argument 2")
  contains(raises(function() luatest.fixture("x", function() end, { scope = "module" }) end),
    "scope must be \"function\", \"file\" or \"session\"")
  contains(raises(function() luatest.it("late", function() end) end), "it: must be called while luatest loads")
  contains(raises(function() luatest.it("x", function() end, { timeout = -1 }) end),
    "it: expected a number of seconds >= 0 (0 = no limit), got -1")
  contains(raises(function() luatest.it("x", function() end, { time = 1 }) end), "it: unknown option 'time'")
  contains(raises(function() luatest.timeout("soon") end), "timeout: expected a number of seconds >= 0")
  contains(raises(function() luatest.timeout(1) end), "timeout: must be called while luatest loads")
end

function test_web_and_test_utils_are_fields()
  eq(luatest.web, require "luatest.web")
  eq(luatest.test_utils, require "luatest.test_utils")
end

function test_loop_fixture(loop)
  assert(type(loop.run_until_complete) == "function")
  assert(type(loop:time()) == "number")
end
