-- Output capture (print, io.write, io.stdout, io.stderr during a test,
-- shown with its failure; -s and --capture=no turn it off), in the text,
-- JUnit and JSON reports and under -j; and the built-in fixtures tmp_path,
-- monkeypatch and capture.
local luatest = require "luatest"
local json = require "luatest.json"
local eq, contains = luatest.eq, luatest.contains

local HERE = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
local support = dofile(HERE .. "/support/runner.lua")
local run, write_file, quote = support.run, support.write_file, support.quote

local read = support.read_file

local function exists(path)
  return require("luatest.core").stat(path) ~= nil
end

local SPEC = [[
print("LOADING")
local luatest = require "luatest"
luatest.fixture("noisy", function()
  print("fixture setup")
  return 1, function() io.stderr:write("fixture teardown\n") end
end)
function test_passes(noisy)
  print("PASSING OUTPUT")
  io.stderr:write("PASSING ERR\n")
end
function test_fails(noisy)
  print("out", 1, true)
  io.write("written ", 2, "\n")
  io.stdout:write("to stdout\n")
  io.stderr:write("to stderr\n")
  error("failed here")
end
describe("d", function()
  before_each(function() print("before hook") end)
  it("fails too", function() io.write("in it") luatest.eq(1, 2) end)
end)
]]

describe("output capture", function()
  it("shows a failing test's output with its failure and hides a passing one's", function(tmpdir)
    write_file(tmpdir .. "/x_spec.lua", SPEC)
    local r = run { tmpdir .. "/x_spec.lua" }
    eq(r.last, "1 passed, 2 failed")
    assert(not r.out:find("PASSING", 1, true) and not r.err:find("PASSING", 1, true), r.out)
    contains(r.out, "----- captured stdout -----\nfixture setup\nout\t1\ttrue\nwritten 2\nto stdout\n"
      .. "----- captured stderr -----\nto stderr\nfixture teardown\n")
    contains(r.out, "----- captured stdout -----\nbefore hook\nin it\n")
    -- what a file prints while it loads is not a test's
    contains(r.out, "LOADING\n")
    assert(support.before(r.out, "failed here", "to stdout"))
  end)

  for _, flag in ipairs { "-s", "--capture=no" } do
    it("is off with " .. flag, function(tmpdir)
      write_file(tmpdir .. "/x_spec.lua", SPEC)
      local r = run { flag, tmpdir .. "/x_spec.lua" }
      eq(r.last, "1 passed, 2 failed")
      contains(r.out, "PASSING OUTPUT\n")
      contains(r.err, "PASSING ERR\n")
      assert(not r.out:find("captured stdout", 1, true), r.out)
    end)
  end

  it("works in -j workers", function(tmpdir)
    write_file(tmpdir .. "/x_spec.lua", SPEC)
    write_file(tmpdir .. "/y_spec.lua", "function test_y() print('Y OUT') error('y') end\n"
      .. "function test_ok() print('OK OUT') end\n")
    local r = run { "-j", "2", tmpdir }
    eq(r.last, "2 passed, 3 failed")
    contains(r.out, "----- captured stdout -----\nY OUT\n")
    contains(r.out, "----- captured stdout -----\nfixture setup\nout\t1\ttrue\n")
    assert(not r.out:find("OK OUT", 1, true) and not r.out:find("PASSING", 1, true), r.out)
  end)

  it("goes to JUnit's system-out and system-err, and to the JSON report", function(tmpdir)
    write_file(tmpdir .. "/x_spec.lua", SPEC)
    local xml = tmpdir .. "/r.xml"
    local r = run { "--junit-xml", xml, "--output", "json", tmpdir .. "/x_spec.lua" }
    eq(r.code, 1)
    local by_id = {}
    for _, t in ipairs(json.decode(r.out).tests) do
      by_id[t.name] = t
    end
    eq(by_id.test_fails.stdout, "fixture setup\nout\t1\ttrue\nwritten 2\nto stdout\n")
    eq(by_id.test_fails.stderr, "to stderr\nfixture teardown\n")
    eq(by_id.test_passes.stdout, json.null)
    local junit = support.read_junit(xml)
    local text = read(xml)
    contains(text, "<system-out>fixture setup\nout\t1\ttrue\nwritten 2\nto stdout\n</system-out>")
    contains(text, "<system-err>to stderr\nfixture teardown\n</system-err>")
    assert(junit, "python3 reads the JUnit file")
  end)

  it("leaves io.write to a file set with io.output alone", function(tmpdir)
    write_file(tmpdir .. "/x_spec.lua", "function test_x() local f = io.output(" .. string.format("%q", tmpdir)
      .. " .. '/w.txt') io.write('to the file') io.output(io.stdout) f:close() error('x') end\n")
    local r = run { tmpdir .. "/x_spec.lua" }
    eq(r.last, "0 passed, 1 failed")
    eq(read(tmpdir .. "/w.txt"), "to the file")
  end)

  it("shows what a failing file fixture's teardown wrote with its error", function(tmpdir)
    write_file(tmpdir .. "/x_spec.lua", [[
require("luatest").fixture("f", function()
  return 1, function() print("in file teardown") io.stderr:write("teardown err\n") error("teardown broke") end
end, { scope = "file" })
function test_x(f) end
]])
    for _, jobs in ipairs { "1", "2" } do
      local r = run { "-j", jobs, tmpdir .. "/x_spec.lua" }
      eq(r.last, "1 passed, 1 failed")
      contains(r.out, "teardown broke")
      contains(r.out, "----- captured stdout -----\nin file teardown\n----- captured stderr -----\nteardown err\n")
    end
  end)

  it("writes out what a test wrote before it called os.exit", function(tmpdir)
    write_file(tmpdir .. "/x_spec.lua", "function test_x() print('before exit') io.stderr:write('err too\\n') "
      .. "os.exit(3) end\n")
    local r = run { tmpdir .. "/x_spec.lua" }
    eq(r.code, 3)
    contains(r.out, "before exit\n")
    contains(r.err, "err too\n")
  end)

  it("rejects a bad --capture method, naming the flag", function()
    local r = run { "--capture=fdx", "spec/data/runner/sample_empty.lua" }
    eq(r.code, 2)
    contains(r.err, "option --capture: expected sys or no, got 'fdx'")
  end)
end)

describe("built-in fixtures", function()
  it("tmp_path: a fresh directory, removed after a passing test, kept and named for a failing one",
    function(tmpdir)
      write_file(tmpdir .. "/x_spec.lua", [[
local log = os.getenv("PATHS_LOG")
local function note(p) local f = io.open(log, "a") f:write(p, "\n") f:close() end
function test_pass(tmp_path)
  note(tmp_path)
  local d = tmp_path .. "/sub"
  assert(os.execute("mkdir " .. d) and io.open(d .. "/f.txt", "w")):close()
  assert(io.open(tmp_path .. "/top.txt", "w")):close()
end
function test_fail(tmp_path)
  note(tmp_path)
  assert(io.open(tmp_path .. "/kept.txt", "w")):close()
  error("fails")
end
]])
      local log = tmpdir .. "/paths"
      local r = run({ tmpdir .. "/x_spec.lua" }, "PATHS_LOG=" .. quote(log) .. " ")
      eq(r.last, "1 passed, 1 failed")
      local passed, failed = read(log):match("^([^\n]+)\n([^\n]+)\n$")
      assert(passed ~= failed)
      assert(passed:find("^/") and not exists(passed), passed)
      assert(exists(failed .. "/kept.txt"), failed)
      contains(r.out, "tmp_path kept: " .. failed .. "\n")
      os.execute("rm -rf " .. quote(failed))
    end)

  it("monkeypatch: setattr, delattr, setenv, delenv, chdir, undone after the test in reverse order",
    function(tmpdir)
      write_file(tmpdir .. "/x_spec.lua", [[
local core = require "luatest.core"
T = { a = 1 }
local start = core.cwd()
function test_patch(monkeypatch)
  monkeypatch:setattr(T, "a", 2)
  monkeypatch:setattr(T, "a", 3)
  monkeypatch:setattr(T, "missing", "x")
  monkeypatch:delattr(T, "a")
  assert(T.a == nil and T.missing == "x")
  monkeypatch:setenv("LT_MP_SET", "hello world")
  monkeypatch:delenv("LT_MP_DEL")
  local p = io.popen("echo \"[$LT_MP_SET][${LT_MP_DEL-unset}]\"")
  local seen = p:read("*l") p:close()
  assert(seen == "[hello world][unset]", seen)
  monkeypatch:chdir(os.getenv("CHDIR_TO"))
  assert(core.cwd() == os.getenv("CHDIR_TO"), core.cwd())
  assert(not pcall(monkeypatch.delattr, monkeypatch, T, "nope"))
  monkeypatch:delattr(T, "nope", false)
end
function test_patch_then_fail(monkeypatch)
  monkeypatch:setattr(T, "a", 99)
  monkeypatch:setenv("LT_MP_SET", 1)
  monkeypatch:chdir("/")
  error("undone all the same")
end
function test_undone()
  assert(T.a == 1 and T.missing == nil, tostring(T.a))
  assert(os.getenv("LT_MP_SET") == nil)
  assert(os.getenv("LT_MP_DEL") == "there")
  assert(core.cwd() == start, core.cwd())
end
]])
      assert(os.execute("mkdir " .. quote(tmpdir .. "/sub")))
      local real = support.run({ "-s", tmpdir .. "/x_spec.lua" }, "LT_MP_DEL=there CHDIR_TO="
        .. quote(tmpdir .. "/sub") .. " ", tmpdir)
      eq(real.last, "2 passed, 1 failed")
      contains(real.out, "undone all the same")
    end)

  for _, flag in ipairs { "--capture=sys", "-s" } do
    it("capture: readouterr returns what was written since the last call, " .. flag, function(tmpdir)
      write_file(tmpdir .. "/x_spec.lua", [[
function test_read(capture)
  print("one")
  io.stderr:write("e1")
  local out, err = capture:readouterr()
  assert(out == "one\n" and err == "e1", out .. "|" .. err)
  io.write("two")
  out, err = capture:readouterr()
  assert(out == "two" and err == "", out .. "|" .. err)
  print("left over")
  error("show the rest")
end
]])
      local r = run { flag, tmpdir .. "/x_spec.lua" }
      eq(r.last, "0 passed, 1 failed")
      contains(r.out, "show the rest")
      contains(r.out, "----- captured stdout -----\nleft over\n")
      assert(not r.out:find("one\n", 1, true), r.out)
    end)
  end
end)

luatest.fixture("tmpdir", function()
  local dir, remove = support.tmpdir()
  return dir, remove
end)
