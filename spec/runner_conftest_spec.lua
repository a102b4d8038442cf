-- conftest.lua files (their fixtures and hooks apply to the files below
-- them, from the root path down), the fixtures of shared modules (visible
-- in the files that require them, whatever the load order), and
-- package.path while a file loads; serial and -j 2 alike.
local luatest = require "luatest"
local eq, same, contains = luatest.eq, luatest.same, luatest.contains

local HERE = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
local support = dofile(HERE .. "/support/runner.lua")
local run, write_file, quote = support.run, support.write_file, support.quote

local read = support.read_file

-- root/conftest.lua, root/sub/conftest.lua, spec files at both levels.
local function tree()
  local dir, remove = support.tmpdir()
  assert(os.execute("mkdir -p " .. quote(dir .. "/root/sub")))
  local root = dir .. "/root"
  write_file(root .. "/conftest.lua", [[
local luatest = require "luatest"
local f = io.open(os.getenv("LOADS"), "a") f:write("root ") f:close()
luatest.fixture("where", function() return "root" end)
luatest.fixture("top", function() return "top" end)
before_each(function() _G.hooked = (_G.hooked or "") .. "<" end)
after_each(function() _G.hooked = _G.hooked .. ">" end)
]])
  write_file(root .. "/sub/conftest.lua", [[
local luatest = require "luatest"
local f = io.open(os.getenv("LOADS"), "a") f:write("sub ") f:close()
luatest.fixture("where", function() return "sub" end)
luatest.fixture("only_sub", function(top) return "only_sub+" .. top end)
before_each(function() _G.hooked = (_G.hooked or "") .. "(" end)
]])
  write_file(root .. "/a_spec.lua", [[
function test_a(where, top)
  assert(where == "root" and top == "top", tostring(where))
  assert(_G.hooked:sub(-1) == "<", _G.hooked)
end
describe("d", function()
  it("uses the root fixture", function(where) assert(where == "root") end)
end)
function test_no_sub(only_sub) end
]])
  write_file(root .. "/sub/b_spec.lua", [[
function test_b(where, only_sub)
  assert(where == "sub", where)
  assert(only_sub == "only_sub+top", only_sub)
  assert(_G.hooked:sub(-2) == "<(", _G.hooked)
end
it("it test", function(where) assert(where == "sub") end)
]])
  write_file(root .. "/sub/c_spec.lua", "function test_c(top) assert(top == 'top') end\n")
  return dir, remove
end

describe("conftest.lua", function()
  for _, jobs in ipairs { "1", "2" } do
    it("gives its fixtures and hooks to the files below it, -j " .. jobs, function(tree)
      local loads = tree .. "/loads"
      local r = run({ "-j", jobs, tree .. "/root" }, "LOADS=" .. quote(loads) .. " ")
      eq(r.last, "5 passed, 1 failed")
      contains(r.out, "ERROR " .. tree .. "/root/a_spec.lua::test_no_sub")
      contains(r.out, "unknown fixture 'only_sub' requested by test_no_sub; available fixtures: ")
      contains(r.out, "each conftest.lua from the root path down to its directory")
      if jobs == "1" then
        -- once per process, before the files below it
        eq(read(loads), "root sub ")
      end
    end)
  end

  it("is never loaded from above the root path", function(tree)
    local loads = tree .. "/loads"
    local r = run({ tree .. "/root/sub/c_spec.lua", tree .. "/root/sub/b_spec.lua" }, "LOADS=" .. quote(loads) .. " ")
    eq(read(loads), "sub ")
    contains(r.out, "unknown fixture 'top' requested by test_c")
    eq(r.last, "1 passed, 2 failed")
  end)

  it("defines no tests: a test in it is a load error", function(tmpdir)
    write_file(tmpdir .. "/conftest.lua", "function test_in_conftest() end\n")
    write_file(tmpdir .. "/x_spec.lua", "function test_x() end\n")
    local r = run { tmpdir }
    eq(r.code, 2)
    contains(r.out, "ERROR loading " .. tmpdir .. "/x_spec.lua")
    contains(r.out, tmpdir .. "/conftest.lua: a conftest.lua defines fixtures and hooks, not tests "
      .. "(it defines test_in_conftest)")
  end)

  it("reports its own load error for the files below it", function(tmpdir)
    write_file(tmpdir .. "/conftest.lua", "error('conftest broke')\n")
    write_file(tmpdir .. "/x_spec.lua", "function test_x() end\n")
    local r = run { tmpdir }
    eq(r.code, 2)
    contains(r.out, "conftest broke")
  end)
end)

-- helpers.lua defines `cli` when it first loads, and requires more.lua,
-- which defines `more`; files require it in different orders.
local function modules(dir)
  write_file(dir .. "/helpers.lua", [[
local luatest = require "luatest"
require "more"
luatest.fixture("cli", function() return "cli" end)
return {}
]])
  write_file(dir .. "/more.lua", [[
require("luatest").fixture("more", function() return "more" end)
return {}
]])
  write_file(dir .. "/a_spec.lua", "require 'helpers'\nfunction test_a(cli, more) assert(cli == 'cli') end\n")
  write_file(dir .. "/b_spec.lua", "function test_b(cli) end\n")
  write_file(dir .. "/c_spec.lua", "local h = require 'helpers'\nfunction test_c(cli, more) end\n")
  write_file(dir .. "/d_spec.lua", "require 'more'\nfunction test_d(more) end\nfunction test_d_cli(cli) end\n")
end

describe("fixtures of shared modules", function()
  for _, jobs in ipairs { "1", "2" } do
    it("are visible only in the files that require them, -j " .. jobs, function(tmpdir)
      modules(tmpdir)
      -- run from another directory: the root path is on package.path
      local r = run({ "-j", jobs, tmpdir }, nil, "/")
      eq(r.last, "3 passed, 2 failed")
      contains(r.out, "unknown fixture 'cli' requested by test_b")
      contains(r.out, "unknown fixture 'cli' requested by test_d_cli")
      same(support.failure_ids(r.out), { tmpdir .. "/b_spec.lua::test_b", tmpdir .. "/d_spec.lua::test_d_cli" })
    end)
  end

  it("are granted again to a file that requires the module after another did", function(tmpdir)
    modules(tmpdir)
    -- c before a: a's require finds helpers in package.loaded
    local r = run { tmpdir .. "/c_spec.lua", tmpdir .. "/d_spec.lua", tmpdir .. "/a_spec.lua" }
    eq(r.last, "3 passed, 1 failed")
    same(support.failure_ids(r.out), { tmpdir .. "/d_spec.lua::test_d_cli" })
  end)

  it("are unknown in a file run alone that does not require the module", function(tmpdir)
    modules(tmpdir)
    local r = run { tmpdir .. "/b_spec.lua" }
    eq(r.last, "0 passed, 1 failed")
  end)

  it("puts each spec file's directory on package.path while it loads", function(tmpdir)
    assert(os.execute("mkdir -p " .. quote(tmpdir .. "/deep/er")))
    write_file(tmpdir .. "/deep/er/localmod.lua", "return { value = 42 }\n")
    write_file(tmpdir .. "/deep/er/x_spec.lua", "local m = require 'localmod'\n"
      .. "function test_x() assert(m.value == 42) end\n")
    local r = run({ tmpdir }, nil, "/")
    eq(r.last, "1 passed, 0 failed")
  end)

  it("takes those directories off again but keeps a file's own change to package.path", function(tmpdir)
    assert(os.execute("mkdir -p " .. quote(tmpdir .. "/lib")))
    write_file(tmpdir .. "/lib/libmod.lua", "return { value = 7 }\n")
    write_file(tmpdir .. "/x_spec.lua", "package.path = '" .. tmpdir .. "/lib/?.lua;' .. package.path\n"
      .. "local dir = '" .. tmpdir .. "'\n"
      .. "function test_x() assert(require('libmod').value == 7)\n"
      .. "  assert(package.path:find(dir .. '/lib/?.lua', 1, true))\n"
      .. "  assert(not package.path:find(dir .. '/?.lua', 1, true)) end\n")
    local r = run({ tmpdir }, nil, "/")
    eq(r.last, "1 passed, 0 failed")
  end)
end)

luatest.fixture("tree", function()
  local dir, remove = tree()
  return dir, remove
end)

luatest.fixture("tmpdir", function()
  local dir, remove = support.tmpdir()
  return dir, remove
end)
