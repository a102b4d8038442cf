-- The runner's running of tests: definition order across the forms, hooks,
-- fixtures and their teardown, fixture errors, tasks left running, the
-- aiohttp fixtures and the leak check.
local luatest = require "luatest"
local eq, contains, match = luatest.eq, luatest.contains, luatest.match

local HERE = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
local DATA = HERE .. "/data/runner/"
local support = dofile(HERE .. "/support/runner.lua")
local run, before = support.run, support.before

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
    local r = run { "-s", DATA .. "sample_order.lua" }
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
    local r = run { "-s", DATA .. "sample_order.lua" }
    assert(before(r.out, "LOG<", "TEARDOWN filefix"))
    assert(before(r.out, "TEARDOWN filefix", "TEARDOWN sess"))
    assert(before(r.out, "TEARDOWN sess", r.last))
  end)

  it("runs AioHTTPTestCase methods with their setup and teardown", function()
    local r = run { "-s", "-v", DATA .. "sample_case.lua" }
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
      .. "aiohttp_client, aiohttp_raw_server, aiohttp_server, aiohttp_unused_port, broken_teardown, capture, loop, "
      .. "loop_a, loop_b, monkeypatch, narrow, tmp_path, wide\n")
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
    r = r or run { "-s", "-v", DATA .. "sample_web.lua" }
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

function test_loop_fixture(loop)
  assert(type(loop.run_until_complete) == "function")
  assert(type(loop:time()) == "number")
end
