-- --watch: a run, then a run of what changed after each change below the
-- paths (all files when a helper changed), until SIGINT or SIGTERM.
local luatest = require "luatest"
local eq, contains = luatest.eq, luatest.contains

local HERE = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
local support = dofile(HERE .. "/support/runner.lua")
local write_file = support.write_file

luatest.fixture("tmpdir", support.tmpdir)

local BANNER = "-- watching spec/ for changes (Ctrl-C to stop)\n"

-- A tree of two spec files and a helper module, watched; the watch is
-- killed at the end whatever happened.
luatest.fixture("watch", function(tmpdir)
  assert(os.execute("mkdir -p " .. support.quote(tmpdir .. "/spec")))
  write_file(tmpdir .. "/spec/helper.lua", "return { value = 1 }\n")
  write_file(tmpdir .. "/spec/a_spec.lua", 'package.path = "spec/?.lua;" .. package.path\n'
    .. 'function test_a() assert(require("helper").value == 1) end\n')
  write_file(tmpdir .. "/spec/b_spec.lua", "function test_b() end\n")
  local h = support.start({ "--watch", "spec/" }, tmpdir)
  h:wait_for(BANNER, 1)
  return h, function()
    h:kill("KILL")
    h:remove()
  end
end)

-- What the watch printed after its n-th status line.
local function after_banner(h, n)
  local s, pos = h:out(), 1
  for _ = 1, n do
    local _, j = s:find(BANNER, pos, true)
    pos = j + 1
  end
  return s:sub(pos)
end

describe("--watch", function()
  it("runs everything, then only the spec file that changed", function(watch, tmpdir)
    local h = watch
    contains(h:out(), "spec/a_spec.lua .\nspec/b_spec.lua .\n2 passed, 0 failed\n" .. BANNER)
    write_file(tmpdir .. "/spec/b_spec.lua", "function test_b() end\nfunction test_b2() end\n")
    h:wait_for(BANNER, 2)
    eq(after_banner(h, 1), "-- 1 file changed: spec/b_spec.lua; running spec/b_spec.lua\n"
      .. "spec/b_spec.lua ..\n2 passed, 0 failed\n" .. BANNER)
    h:kill("INT")
    eq(h:exit_code(), 0)
  end)

  it("runs all the files when another Lua file changed, with that module loaded anew", function(watch, tmpdir)
    local h = watch
    write_file(tmpdir .. "/spec/helper.lua", "return { value = 2 }\n")
    h:wait_for(BANNER, 2)
    local second = after_banner(h, 1)
    contains(second, "-- 1 file changed: spec/helper.lua; running all files\n")
    contains(second, "spec/a_spec.lua F\nspec/b_spec.lua .\n")
    contains(second, "\n1 passed, 1 failed\n" .. BANNER)
    -- files that are not Lua code start no run
    write_file(tmpdir .. "/spec/notes.txt", "x\n")
    write_file(tmpdir .. "/spec/helper.lua", "return { value = 1 }\n")
    h:wait_for(BANNER, 3)
    eq(after_banner(h, 2):match("^[^\n]*"), "-- 1 file changed: spec/helper.lua; running all files")
    contains(after_banner(h, 2), "\n2 passed, 0 failed\n" .. BANNER)
    h:kill("TERM")
    eq(h:exit_code(), 0)
    contains(h:out(), BANNER .. "-- stopped (SIGTERM)\n")
  end)

  it("watches directories created after it started, and stops on SIGINT", function(watch, tmpdir)
    local h = watch
    assert(os.execute("mkdir " .. support.quote(tmpdir .. "/spec/sub")))
    write_file(tmpdir .. "/spec/sub/c_spec.lua", "function test_c() end\n")
    h:wait_for("spec/sub/c_spec.lua .\n1 passed, 0 failed\n" .. BANNER)
    h:kill("INT")
    eq(h:exit_code(), 0)
    contains(h:out(), "-- stopped (SIGINT)\n")
  end)
end)
