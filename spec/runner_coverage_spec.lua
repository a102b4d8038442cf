-- --coverage: LuaCov's stats file and a report, for the code the tests ran
-- in tasks, coroutines and server handlers, merged across -j workers.
local luatest = require "luatest"
local eq, contains = luatest.eq, luatest.contains

local HERE = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
local support = dofile(HERE .. "/support/runner.lua")
local run, write_file = support.run, support.write_file

luatest.fixture("tmpdir", support.tmpdir)

-- The code under test: each function on lines of its own.
local MOD = [[
local M = {}
function M.plain()
  return 1
end
function M.in_coroutine()
  return 2
end
function M.in_task()
  return 3
end
function M.in_handler()
  return "hi"
end
function M.never()
  return 5
end
return M
]]
local LINE = { plain = 3, in_coroutine = 6, in_task = 9, in_handler = 12, never = 15 }

local SPEC = [[
package.path = "./?.lua;" .. package.path
local luatest = require "luatest"
local core = require "luatest.core"
local mod = require "mod"

function test_plain()
  mod.plain()
end

function test_coroutine()
  local co = coroutine.create(function()
    coroutine.yield(mod.in_coroutine())
  end)
  assert(coroutine.resume(co))
end

function test_task()
  core.spawn(function()
    mod.in_task()
  end):join()
end

function test_handler(aiohttp_client)
  local app = luatest.web.Application()
  app.router:add_get("/", function()
    return mod.in_handler()
  end)
  luatest.eq(aiohttp_client(app):get("/"):text(), "hi")
end
]]

-- The stats file read the way LuaCov's luacov.stats reads it: a number,
-- ':', the file name to the end of the line, then that many numbers each
-- followed by one space.
local function read_stats(path)
  local f = assert(io.open(path))
  local data, order = {}, {}
  while true do
    local max = f:read("*n")
    if not max then
      break
    end
    eq(f:read(1), ":")
    local name = f:read("*l")
    local hits = { max = max }
    for i = 1, max do
      hits[i] = assert(f:read("*n"), "a count")
      eq(f:read(1), " ")
    end
    eq(f:read(1), "\n")
    data[name] = hits
    order[#order + 1] = name
  end
  eq(f:read("*a"), "")
  f:close()
  return data, order
end

local function read_file(path)
  local f = assert(io.open(path))
  local s = f:read("*a")
  f:close()
  return s
end

describe("--coverage", function()
  it("writes LuaCov's stats for the lines run in tasks, coroutines and handlers", function(tmpdir)
    write_file(tmpdir .. "/mod.lua", MOD)
    write_file(tmpdir .. "/a_spec.lua", SPEC)
    local r = run({ "--coverage", "a_spec.lua" }, nil, tmpdir)
    eq(r.code, 0)
    eq(r.last, "4 passed, 0 failed")
    contains(r.err, "luatest: --coverage: coverage of 2 files: luacov.stats.out, luacov.report.out")
    local data, order = read_stats(tmpdir .. "/luacov.stats.out")
    -- sorted by name, as LuaCov writes them; luatest's own modules absent
    eq(table.concat(order, " "), "./mod.lua a_spec.lua")
    local mod = data["./mod.lua"]
    for _, name in ipairs { "plain", "in_coroutine", "in_task", "in_handler" } do
      eq(mod[LINE[name]], 1, name)
    end
    eq(mod[LINE.never], 0)
    eq(mod.max, 17)
    local report = read_file(tmpdir .. "/luacov.report.out")
    contains(report, "./mod.lua\n")
    contains(report, "\n*0   return 5\n")
    contains(report, "\n 1   return 1\n")
    assert(report:find("\nTotal%s+%d+%s+1%s+%d+%.%d%d%%\n$"), report)
  end)

  it("merges the counts of the -j workers", function(tmpdir)
    write_file(tmpdir .. "/mod.lua", MOD)
    write_file(tmpdir .. "/a_spec.lua", SPEC)
    write_file(tmpdir .. "/b_spec.lua", 'package.path = "./?.lua;" .. package.path\n'
      .. 'function test_b() require("mod").plain() require("mod").plain() end\n')
    local r = run({ "--coverage", "-j", "2", "a_spec.lua", "b_spec.lua" }, nil, tmpdir)
    eq(r.code, 0)
    eq(r.last, "5 passed, 0 failed")
    local mod = read_stats(tmpdir .. "/luacov.stats.out")["./mod.lua"]
    eq(mod[LINE.plain], 3)
    eq(mod[LINE.in_task], 1)
    eq(mod[LINE.in_handler], 1)
    -- one count from each worker that loaded it
    eq(mod[1], 2)
  end)

  it("writes nothing without the flag, and a new count each run", function(tmpdir)
    write_file(tmpdir .. "/mod.lua", MOD)
    write_file(tmpdir .. "/a_spec.lua", SPEC)
    local r = run({ "a_spec.lua" }, nil, tmpdir)
    eq(r.code, 0)
    eq(io.open(tmpdir .. "/luacov.stats.out"), nil)
    run({ "--coverage", "a_spec.lua" }, nil, tmpdir)
    run({ "--coverage", "-k", "plain", "a_spec.lua" }, nil, tmpdir)
    local mod = read_stats(tmpdir .. "/luacov.stats.out")["./mod.lua"]
    eq(mod[LINE.plain], 1)
    eq(mod[LINE.in_task], 0)
  end)

  it("counts every pass of a hot loop", function(tmpdir)
    write_file(tmpdir .. "/hot_spec.lua", "function test_hot()\n  local s = 0\n  for i = 1, 200000 do\n"
      .. "    s = s + i\n  end\nend\n")
    local r = run({ "--coverage", "hot_spec.lua" }, nil, tmpdir)
    eq(r.code, 0)
    eq(read_stats(tmpdir .. "/luacov.stats.out")["hot_spec.lua"][4], 200000)
  end)

  it("is taken from .luatest.lua", function(tmpdir)
    write_file(tmpdir .. "/mod.lua", MOD)
    write_file(tmpdir .. "/a_spec.lua", SPEC)
    write_file(tmpdir .. "/.luatest.lua", "return { coverage = true }\n")
    local r = run({ "a_spec.lua" }, nil, tmpdir)
    eq(r.code, 0)
    eq(read_stats(tmpdir .. "/luacov.stats.out")["./mod.lua"][LINE.plain], 1)
  end)
end)
