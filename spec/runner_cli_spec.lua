-- The runner's command line: discovery, -x, exit codes, bad usage, --help,
-- --version and --env, colours, and the defaults of .luatest.lua.
local luatest = require "luatest"
local eq, contains, match = luatest.eq, luatest.contains, luatest.match

local HERE = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
local DATA = HERE .. "/data/runner/"
local support = dofile(HERE .. "/support/runner.lua")
local run, write_file, sorted = support.run, support.write_file, support.sorted

luatest.fixture("tree", support.tree, { scope = "file" })

luatest.fixture("tmpdir", support.tmpdir)

describe("the command line", function()
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

  it("says where it looked when no path is given and there is no spec/", function(tmpdir)
    local r = run({}, nil, tmpdir)
    eq(r.code, 2)
    eq(r.out, "")
    contains(r.err, "luatest: no spec/ directory in " .. tmpdir .. "; give files or directories to run")
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
    -- as on the command line, only lower-case and/or/not are operators
    write_file(tmpdir .. "/t_spec.lua", "function test_a() end\nfunction test_b() end\nfunction test_a_AND_b() end\n")
    eq(run({ "-k", "test_a and not AND", "t_spec.lua" }, nil, tmpdir).last, "1 passed, 0 failed")
    write_file(tmpdir .. "/.luatest.lua", 'return { paths = "t_spec.lua", k = "test_a and not AND" }\n')
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
