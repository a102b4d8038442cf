-- The runner's selection and order of tests: node ids (FILE::NAME), -k
-- and its expressions, --count, --maxfail, --shuffle and --seed, --lf,
-- --shard; -j runs select the same.
local unpack = table.unpack or unpack
local luatest = require "luatest"
local eq, contains, match, same = luatest.eq, luatest.contains, luatest.match, luatest.same

local HERE = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
local support = dofile(HERE .. "/support/runner.lua")
local run, write_file, lines_of, sorted, failure_ids = support.run, support.write_file, support.lines_of,
  support.sorted, support.failure_ids

luatest.fixture("tree", support.tree, { scope = "file" })

luatest.fixture("tmpdir", support.tmpdir)

luatest.fixture("many", support.many, { scope = "file" })

describe("-k", function()
  it("selects with -k, case-insensitive, repeatable", function(tree)
    local r = run { "--list", "-k", "ONE", "-k", "sub/", tree }
    eq(r.out, tree .. "/b_spec.lua::test_one\n" .. tree .. "/sub/test_a.lua::test_two\n")
    r = run { "-kTEST_X", tree }
    eq(r.code, 0)
    eq(r.last, "1 passed, 0 failed")
  end)
end)

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
  -- (run in `many`, whose .luatest_cache/ holds no durations: by test count)
  it("splits the suite into even parts by file, whose union is the whole", function(many)
    local all = lines_of(run({ "--list", many }).out)
    local seen, counts = {}, {}
    for k = 1, 3 do
      local r = run({ "--list", "--shard", k .. "/3", many }, nil, many)
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
    local r = run({ "--shard", "2/3", many }, nil, many)
    contains(r.out, "shard 2/3: 7 tests in 2 files\n")
    eq(r.last, "7 passed, 0 failed")
    for _, v in ipairs { "0/3", "4/3", "1/0", "x", "1/2/3", "" } do
      local bad = run { "--shard", v, many }
      eq(bad.code, 2)
      contains(bad.err, "option --shard: expected K/N with 1 <= K <= N, or auto")
    end
  end)
end)

-- ---- node ids, -k expressions, --count, --maxfail ----------------------------------------

-- Two spec files in dir: sel_spec.lua (7 tests: 5 pass, a failure, an
-- error) and other_spec.lua (2 tests, one failing); returns their paths.
local function selection_files(dir)
  local sel, other = dir .. "/sel_spec.lua", dir .. "/other_spec.lua"
  write_file(sel, [[
function test_http_fast() end
function test_http_slow() end
function test_ws_fast() end
describe("Outer", function()
  describe("inner", function()
    it("one", function() end)
    it("two", function() assert(false, "two fails") end)
  end)
  it("three", function() error("three raises") end)
end)
function test_last() end
]])
  write_file(other, "function test_other_fast() end\nfunction test_other_bad() assert(false) end\n")
  return sel, other
end

local function listed(args)
  local r = run(args)
  eq(r.code, 0, r.err)
  return r.out
end

-- The ids of the tests a -v run reports, in order.
local function ran_ids(out)
  local ids = {}
  for word, id in ("\n" .. out):gmatch("\n(%u+) ([^\n]-) %(%d") do
    ids[#ids + 1] = word .. " " .. id
  end
  return ids
end

describe("node ids", function()
  it("select a test, a describe block with what it holds, and a class", function(tmpdir)
    local sel = selection_files(tmpdir)
    eq(listed { "--list", sel .. "::test_http_slow" }, sel .. "::test_http_slow\n")
    eq(listed { "--list", sel .. "::Outer > inner" },
      sel .. "::Outer > inner > one\n" .. sel .. "::Outer > inner > two\n")
    eq(listed { "--list", sel .. "::Outer", sel .. "::test_last" }, table.concat({ sel .. "::Outer > inner > one",
      sel .. "::Outer > inner > two", sel .. "::Outer > three", sel .. "::test_last" }, "\n") .. "\n")
    -- A file also named whole, by itself or by its directory, runs whole
    -- (and the id is then no error).
    eq(#lines_of(listed { "--list", sel .. "::test_http", tmpdir }), 9)
    eq(#lines_of(listed { "--list", sel, sel .. "::test_last" }), 7)
    local D = HERE .. "/data/runner/"
    eq(listed { "--list", D .. "sample_case.lua::Case" }, table.concat({ D .. "sample_case.lua::Case.test_one",
      D .. "sample_case.lua::Case.test_two", D .. "sample_case.lua::Case.test_skipped" }, "\n") .. "\n")
  end)

  it("round-trip: the ids the failure report prints rerun those tests", function(tmpdir)
    local sel, other = selection_files(tmpdir)
    local r = run { sel, other }
    eq(r.last, "6 passed, 3 failed")
    local ids = failure_ids(r.out)
    same(ids, sorted { sel .. "::Outer > inner > two", sel .. "::Outer > three", other .. "::test_other_bad" })
    local again = run(ids)
    eq(again.code, 1)
    same(failure_ids(again.out), ids)
    eq(again.last, "0 passed, 3 failed")
  end)

  it("that match nothing are bad usage, named", function(tmpdir)
    local sel = selection_files(tmpdir)
    for _, id in ipairs { sel .. "::test_nope", sel .. "::Outer > nope", sel .. "::test_http" } do
      local r = run { id }
      eq(r.code, 2)
      eq(r.out, "")
      contains(r.err, "luatest: no test matches " .. id)
    end
    local r = run { tmpdir .. "/missing_spec.lua::test_x" }
    eq(r.code, 2)
    contains(r.err, tmpdir .. "/missing_spec.lua")
  end)
end)

describe("-k expressions", function()
  it("combine words with and, or, not and parentheses, ignoring case", function(tmpdir)
    local sel, other = selection_files(tmpdir)
    eq(listed { "--list", "-k", "http and not SLOW", sel }, sel .. "::test_http_fast\n")
    eq(listed { "--list", "-k", "(fast or inner) and not ws", sel, other }, table.concat({ sel .. "::test_http_fast",
      sel .. "::Outer > inner > one", sel .. "::Outer > inner > two", other .. "::test_other_fast" }, "\n") .. "\n")
    eq(listed { "--list", "-k", "not not other and not (fast or http)", sel, other }, other .. "::test_other_bad\n")
    -- A run of words is one substring; repeated -k are OR'ed.
    eq(listed { "--list", "-k", "outer > inner > t or three", sel }, sel .. "::Outer > inner > two\n" .. sel
      .. "::Outer > three\n")
    eq(listed { "--list", "-k", "ws", "-k", "last and not http", sel },
      sel .. "::test_ws_fast\n" .. sel .. "::test_last\n")
  end)

  it("without operators are one substring, as before", function(tmpdir)
    local sel = selection_files(tmpdir)
    eq(listed { "--list", "-k", "OUTER > INNER", sel },
      sel .. "::Outer > inner > one\n" .. sel .. "::Outer > inner > two\n")
    eq(listed { "--list", "-k", "sel_spec.lua::test_h", sel },
      sel .. "::test_http_fast\n" .. sel .. "::test_http_slow\n")
  end)

  it("that do not parse are bad usage naming -k", function(tmpdir)
    local sel = selection_files(tmpdir)
    for pattern, why in pairs {
      ["http and"] = "expected a word, 'not' or '(' after 'and'",
      ["or http"] = "expected a word, 'not' or '(' at the start",
      ["(http or ws"] = "the '(' at column 1 is not closed",
      ["http) or ws"] = "unexpected ')' at column 5",
      ["not"] = "expected a word, 'not' or '(' after 'not'",
      ["()"] = "expected a word, 'not' or '(' after '('",
    } do
      local r = run { "-k", pattern, sel }
      eq(r.code, 2)
      eq(r.out, "")
      contains(r.err, "luatest: option -k: " .. why .. ", got '" .. pattern .. "'")
    end
  end)
end)

describe("--count", function()
  it("runs each selected test N times in a row, ids gaining [k-N]", function(tmpdir)
    local sel = selection_files(tmpdir)
    eq(listed { "--list", "--count", "3", "-k", "http_fast", sel }, sel .. "::test_http_fast[1-3]\n" .. sel
      .. "::test_http_fast[2-3]\n" .. sel .. "::test_http_fast[3-3]\n")
    local r = run { "--count", "2", sel }
    eq(r.code, 1)
    eq(r.last, "10 passed, 4 failed")
    contains(r.out, "FAIL " .. sel .. "::Outer > inner > two[2-2]\n")
    -- The ids round-trip, the plain name selects every repeat.
    eq(listed { "--list", "--count", "3", sel .. "::test_ws_fast[2-3]" }, sel .. "::test_ws_fast[2-3]\n")
    eq(#lines_of(listed { "--list", "--count", "2", sel .. "::Outer > inner" }), 4)
  end)

  it("refuses a count that is not one or more", function(tmpdir)
    local sel = selection_files(tmpdir)
    for _, v in ipairs { "0", "-2", "x", "1.5" } do
      local r = run { "--count", v, sel }
      eq(r.code, 2)
      contains(r.err, "luatest: option --count: expected a whole number >= 1, got '" .. v .. "'")
    end
  end)
end)

describe("--maxfail", function()
  it("stops after N failures and errors, reporting the rest as not run", function(tmpdir)
    local sel = selection_files(tmpdir)
    local r = run { "--maxfail", "1", sel }
    eq(r.code, 1)
    contains(r.out, "\nstopped after 1 failure (--maxfail 1)\n2 tests not run\n")
    eq(r.last, "4 passed, 1 failed")
    r = run { "--maxfail=2", sel }
    contains(r.out, "\nstopped after 2 failures (--maxfail 2)\n1 test not run\n")
    eq(r.last, "4 passed, 2 failed")
    r = run { "--maxfail", "3", sel }
    assert(not r.out:find("stopped after", 1, true), r.out)
    eq(r.last, "5 passed, 2 failed")
    r = run { "-x", sel }
    contains(r.out, "\nstopped after the first failure (-x)\n2 tests not run\n")
  end)

  it("refuses a number that is not one or more", function(tmpdir)
    local sel = selection_files(tmpdir)
    for _, v in ipairs { "0", "x", "" } do
      local r = run { "--maxfail", v, sel }
      eq(r.code, 2)
      contains(r.err, "luatest: option --maxfail: expected a whole number >= 1, got '" .. v .. "'")
    end
  end)
end)

describe("-j 2", function()
  it("runs what the node ids, -k expressions and --count select, as a serial run does", function(tmpdir)
    local sel, other = selection_files(tmpdir)
    for _, args in ipairs {
      { sel .. "::Outer > inner", other .. "::test_other_bad", sel .. "::test_last" },
      { "-k", "(fast or inner) and not ws", sel, other },
      { "--count", "2", "-k", "inner or other", sel, other },
      { "--maxfail", "2", sel },
    } do
      local serial = run { "-v", unpack(args) }
      local par = run { "-v", "-j", "2", unpack(args) }
      assert(#ran_ids(serial.out) > 0, serial.out)
      same(ran_ids(par.out), ran_ids(serial.out))
      eq(par.last, serial.last)
      eq(par.code, serial.code)
    end
  end)
end)
