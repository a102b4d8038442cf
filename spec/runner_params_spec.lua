-- Parametrized tests: luatest.parametrize in the three test forms, its ids
-- (pytest's), stacked parametrize, fixtures with params; and the ids as
-- node ids, with -k, --count, --lf, --list and -j.
local unpack = table.unpack or unpack
local luatest = require "luatest"
local eq, contains, same = luatest.eq, luatest.contains, luatest.same

local HERE = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
local support = dofile(HERE .. "/support/runner.lua")
local run, write_file, lines_of = support.run, support.write_file, support.lines_of

luatest.fixture("tmpdir", support.tmpdir)

local log_of, spec_file = support.log_of, support.logging_spec_file

local function listed(args)
  local r = run(args)
  eq(r.code, 0, r.err .. r.out)
  return lines_of(r.out)
end

-- The ids of a --list output with the file's path cut off.
local function names(lines, path)
  local out = {}
  for i, l in ipairs(lines) do
    out[i] = l:sub(#path + 3)
  end
  return out
end

describe("parametrize", function()
  it("makes one test per row, values and fixtures injected by name in any order", function(tmpdir)
    local path = spec_file(tmpdir, "p_spec.lua", [[
luatest.fixture("base", function() return "B" end)
test_x = luatest.parametrize("code, text", {{200, "OK"}, {404, "Not Found"}}, function(text, base, code)
  LOG(code, text, base)
end)
test_one = luatest.parametrize("n", {1, 2, 3}, function(n) LOG("n", n) end)
]])
    same(names(listed { "--list", path }, path), { "test_x[200-OK]", "test_x[404-Not Found]", "test_one[1]",
      "test_one[2]", "test_one[3]" })
    local r = run { path }
    eq(r.last, "5 passed, 0 failed")
    same(log_of(tmpdir), { "200 OK B", "404 Not Found B", "n 1", "n 2", "n 3" })
  end)

  it("makes ids as pytest does", function(tmpdir)
    local path = spec_file(tmpdir, "ids_spec.lua", [[
test_types = luatest.parametrize("a, b", {{"s", 1.5}, {true, false}, {nil, {}}, {7, "x"}}, function(a, b) end)
test_dup = luatest.parametrize("v", {"a", "a", "a0", "b1", "b1", 3, 3}, function(v) end)
test_given = luatest.parametrize("v", {1, 2, 3}, function(v) end, {ids = {"one", nil, "one"}})
test_fn = luatest.parametrize("v, w", {{1, 2}, {3, 4}}, function(v, w) end, {ids = function(x)
  if x == 2 then return "two" end
end})
test_none = luatest.parametrize("a, b", {}, function(a, b) error("ran") end)
]])
    same(names(listed { "--list", path }, path), {
      "test_types[s-1.5]", "test_types[true-false]", "test_types[a2-b2]", "test_types[7-x]",
      "test_dup[a1]", "test_dup[a2]", "test_dup[a0]", "test_dup[b1_0]", "test_dup[b1_1]", "test_dup[3_0]",
      "test_dup[3_1]",
      "test_given[one0]", "test_given[2]", "test_given[one1]",
      "test_fn[1-two]", "test_fn[3-4]",
      "test_none[a0-b0]",
    })
    -- No rows: one test, skipped (pytest's "got empty parameter set").
    local r = run { "-v", path .. "::test_none" }
    contains(r.out, "SKIP " .. path .. "::test_none[a0-b0] (")
    contains(r.out, "got empty parameter set ['a', 'b'], function test_none at " .. path .. ":")
    eq(r.last, "0 passed, 0 failed, 1 skipped")
  end)

  it("stacked, gives the product with the inner ids first", function(tmpdir)
    local path = spec_file(tmpdir, "stack_spec.lua", [[
test_s = luatest.parametrize("x", {0, 1}, luatest.parametrize("y", {2, 3}, function(x, y) LOG(x, y) end))
]])
    -- (pytest's order for @parametrize("x") over @parametrize("y"))
    same(names(listed { "--list", path }, path), { "test_s[2-0]", "test_s[2-1]", "test_s[3-0]", "test_s[3-1]" })
    eq(run({ path }).last, "4 passed, 0 failed")
    same(log_of(tmpdir), { "0 2", "1 2", "0 3", "1 3" })
  end)

  it("takes the place of fn in it(), with describe paths, hooks and options", function(tmpdir)
    local path = spec_file(tmpdir, "it_spec.lua", [[
describe("outer", function()
  local seen
  before_each(function(code) seen = code end)
  it("gets", luatest.parametrize("code, text", {{200, "OK"}, {404, "Not Found"}}, function(code, text)
    LOG(code, text, seen)
    assert(code == 200, "not 200")
  end), { timeout = 5 })
end)
]])
    same(names(listed { "--list", path }, path), { "outer > gets[200-OK]", "outer > gets[404-Not Found]" })
    local r = run { path }
    eq(r.last, "1 passed, 1 failed")
    contains(r.out, "FAIL " .. path .. "::outer > gets[404-Not Found]\n")
    -- The hooks see the row's values too.
    same(log_of(tmpdir), { "200 OK 200", "404 Not Found 404" })
  end)

  it("works on AioHTTPTestCase methods", function(tmpdir)
    local path = spec_file(tmpdir, "case_spec.lua", [[
local web = require "luatest.web"
Case = require("luatest.test_utils").AioHTTPTestCase:extend("Case")
function Case:get_application()
  local app = web.Application()
  app.router:add_get("/{n}", function(request) return request.match_info.n end)
  return app
end
Case.test_get = luatest.parametrize("n, want", {{"1", "1"}, {"2", "2"}}, function(self, n, want)
  LOG(n, self.client:get("/" .. n):text() == want)
end)
]])
    same(names(listed { "--list", path }, path), { "Case.test_get[1-1]", "Case.test_get[2-2]" })
    eq(run({ path }).last, "2 passed, 0 failed")
    same(log_of(tmpdir), { "1 true", "2 true" })
  end)

  it("refuses names the test does not take, bad rows and bad options", function(tmpdir)
    for body, why in pairs {
      ["test_x = luatest.parametrize('a, nope', {{1, 2}}, function(a) end)"] =
        "test_x: parametrize: neither the test nor a fixture it uses takes a parameter 'nope'",
      ["test_x = luatest.parametrize('a, b', {1}, function(a, b) end)"] =
        "parametrize: row 1 is a number, expected a list of 2 values (a, b)",
      ["test_x = luatest.parametrize('a, b', {{1, 2, 3}}, function(a, b) end)"] =
        "parametrize: row 1 has 3 values, expected 2 (a, b)",
      ["test_x = luatest.parametrize('a', {1}, function(a) end, {idz = {}})"] =
        "parametrize: unknown option 'idz' (known: ids)",
      ["test_x = luatest.parametrize('a', {1}, function(a) end, {ids = {'x', 'y'}})"] = "parametrize: 2 ids for 1 rows",
      ["test_x = luatest.parametrize('a', {1}, luatest.parametrize('a', {2}, function(a) end))"] =
        "test_x: the parameter 'a' is parametrized twice",
      ["Case = require('luatest.test_utils').AioHTTPTestCase:extend('Case') "
        .. "Case.test_x = luatest.parametrize('a', {1}, function(self, a, b) end)"] =
        "Case.test_x: its parameter 'b' is not parametrized (test case methods take no fixtures)",
      ["luatest.fixture('f', function(param) end)"] =
        "fixture 'f': its parameter 'param' receives each of opts.params, and it has none",
    } do
      local path = spec_file(tmpdir, "bad_spec.lua", body .. "\n")
      local r = run { path }
      eq(r.code, 2, r.out)
      contains(r.out, why)
    end
  end)
end)

describe("fixture params", function()
  it("run each test that uses the fixture, directly or not, once per param, ids after the rows'", function(tmpdir)
    local path = spec_file(tmpdir, "fp_spec.lua", [[
luatest.fixture("bang", function() return "!" end)
luatest.fixture("backend", function(bang, param) LOG("setup", param) return param .. bang end,
  { params = {"mem", "disk"} })
luatest.fixture("store", function(backend) return "store:" .. backend end)
luatest.fixture("conf", function(param) return param end, { params = { {a = 1}, 42 } })
test_direct = luatest.parametrize("code", {200, 404}, function(code, backend) LOG("direct", code, backend) end)
test_through = function(store) LOG("through", store) end
test_two = function(store, conf) LOG("two", store, type(conf)) end
function test_plain() LOG("plain") end
]])
    same(names(listed { "--list", path }, path), {
      "test_direct[200-mem]", "test_direct[200-disk]", "test_direct[404-mem]", "test_direct[404-disk]",
      "test_through[mem]", "test_through[disk]",
      "test_two[mem-conf0]", "test_two[mem-42]", "test_two[disk-conf0]", "test_two[disk-42]",
      "test_plain",
    })
    local r = run { path }
    eq(r.last, "11 passed, 0 failed")
    same(log_of(tmpdir), {
      "setup mem", "direct 200 mem!", "setup disk", "direct 200 disk!",
      "setup mem", "direct 404 mem!", "setup disk", "direct 404 disk!",
      "setup mem", "through store:mem!", "setup disk", "through store:disk!",
      "setup mem", "two store:mem! table", "setup mem", "two store:mem! number",
      "setup disk", "two store:disk! table", "setup disk", "two store:disk! number",
      "plain",
    })
  end)

  it("of a wider scope, set up once per param and kept", function(tmpdir)
    local path = spec_file(tmpdir, "scope_spec.lua", [[
luatest.fixture("db", function(param)
  LOG("open", param)
  return param, function() LOG("close", param) end
end, { params = {"a", "b"}, ids = {"A", "B"}, scope = "file" })
function test_one(db) LOG("one", db) end
function test_two(db) LOG("two", db) end
]])
    same(names(listed { "--list", path }, path), { "test_one[A]", "test_one[B]", "test_two[A]", "test_two[B]" })
    eq(run({ path }).last, "4 passed, 0 failed")
    same(log_of(tmpdir), { "open a", "one a", "open b", "one b", "two a", "two b", "close b", "close a" })
  end)
end)

describe("parametrized ids", function()
  local function file(dir)
    return spec_file(dir, "sel_spec.lua", [[
test_x = luatest.parametrize("code, text", {{200, "OK"}, {404, "Not Found"}, {500, "Oops"}}, function(code, text)
  assert(code ~= 404 or os.getenv("FIXED"), "404 fails")
end)
describe("d", function()
  it("e", luatest.parametrize("v", {"a", "b"}, function(v) end))
end)
]])
  end

  it("select as node ids on the command line, the plain name every row", function(tmpdir)
    local path = file(tmpdir)
    same(names(listed { "--list", path .. "::test_x[200-OK]" }, path), { "test_x[200-OK]" })
    same(names(listed { "--list", path .. "::d > e[b]", path .. "::test_x[404-Not Found]" }, path),
      { "test_x[404-Not Found]", "d > e[b]" })
    eq(#listed { "--list", path .. "::test_x" }, 3)
    local r = run { path .. "::test_x[999]" }
    eq(r.code, 2)
    contains(r.err, "no test matches " .. path .. "::test_x[999]")
    -- The id a failure report prints reruns it.
    r = run { path }
    eq(r.last, "4 passed, 1 failed")
    contains(r.out, "FAIL " .. path .. "::test_x[404-Not Found]\n")
    eq(run({ path .. "::test_x[404-Not Found]" }).last, "0 passed, 1 failed")
  end)

  it("work with -k, --count, --lf and -j", function(tmpdir)
    local path = file(tmpdir)
    same(names(listed { "--list", "-k", "found or e[a]", path }, path), { "test_x[404-Not Found]", "d > e[a]" })
    same(names(listed { "--list", "--count", "2", "-k", "500", path }, path),
      { "test_x[500-Oops-1-2]", "test_x[500-Oops-2-2]" })
    eq(run({ "--lf", "." }, nil, tmpdir).last, "4 passed, 1 failed")
    local again = run({ "--lf", "-v", "." }, nil, tmpdir)
    contains(again.out, "FAIL sel_spec.lua::test_x[404-Not Found] (")
    eq(again.last, "0 passed, 1 failed")
    for _, args in ipairs { { path }, { "--count", "2", path }, { "-k", "e or 500", path } } do
      local serial, par = run { "-v", unpack(args) }, run { "-v", "-j", "2", unpack(args) }
      eq(par.last, serial.last)
      local function ids(out)
        local list = {}
        for id in out:gmatch("\n?%u+ ([^\n]-) %(%d") do
          list[#list + 1] = id
        end
        return list
      end
      same(ids(par.out), ids(serial.out))
    end
  end)
end)
