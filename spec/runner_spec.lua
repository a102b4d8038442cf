-- The runner: discovery, definition order, fixtures and their teardown,
-- hooks, the command line, exit codes and the text report. Most tests run
-- the luatest binary (LUATEST_BIN, default ./luatest) on the sample files
-- under spec/data/runner/, whose names the discovery patterns do not match.
local luatest = require "luatest"
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

-- Runs the binary with the given arguments (a list); returns a table with
-- out, err, code and last (the last line of stdout).
local function run(args, env_prefix)
  local parts = {}
  for i, a in ipairs(args) do
    parts[i] = quote(a)
  end
  local errfile = os.tmpname()
  local cmd = (env_prefix or "") .. quote(BIN) .. " " .. table.concat(parts, " ") .. " 2>" .. quote(errfile)
  local p = assert(io.popen(cmd, "r"))
  local out = p:read("a")
  local _, _, code = p:close()
  local f = assert(io.open(errfile, "r"))
  local err = f:read("a")
  f:close()
  os.remove(errfile)
  return { out = out, err = err, code = code, last = last_line(out) }
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
    contains(r.out, "attempt to index a nil value (local 't')")
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

  it("fails a test that waits on something that can never happen", function()
    contains(r.out, "ERROR " .. DATA .. "sample_misc.lua::test_waits_forever")
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
    contains(r.out, DATA .. "sample_web.lua:24: aiohttp_client: expected an Application, TestServer or "
      .. "RawTestServer, got number")
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
    contains(r.out, DATA .. "sample_load_error.lua:2: attempt to index a nil value (local 'x')")
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
    for _, flag in ipairs { "-k PATTERN", "-x", "--list", "-v", "-q", "--no-color", "--env", "--version", "--help" } do
      contains(r.out, flag)
    end
  end)

  it("prints the version and the environment", function()
    local core = require "luatest.core"
    local r = run { "--version" }
    eq(r.out, "luatest " .. core.version .. "\n")
    r = run { "--env" }
    eq(r.code, 0)
    local dir = core.srcdir
    eq(r.out, "export LUA_PATH='" .. dir .. "/lua/?.lua;" .. dir .. "/lua/?/init.lua;;'\n"
      .. "export LUA_CPATH='" .. dir .. "/lib/?.so;;'\n")
  end)

  it("uses no colour with --no-color or NO_COLOR", function(tree)
    local r = run({ "--no-color", tree }, "NO_COLOR=1 ")
    assert(not r.out:find("\27[", 1, true))
    eq(r.last, "3 passed, 0 failed")
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
end

function test_web_and_test_utils_are_fields()
  eq(luatest.web, require "luatest.web")
  eq(luatest.test_utils, require "luatest.test_utils")
end

function test_loop_fixture(loop)
  assert(type(loop.run_until_complete) == "function")
  assert(type(loop:time()) == "number")
end
