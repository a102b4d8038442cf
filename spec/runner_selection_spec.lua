-- The runner's selection and order of tests: -k, --shuffle and --seed,
-- --lf, --shard.
local luatest = require "luatest"
local eq, contains, match, same = luatest.eq, luatest.contains, luatest.match, luatest.same

local HERE = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
local support = dofile(HERE .. "/support/runner.lua")
local run, write_file, lines_of, sorted = support.run, support.write_file, support.lines_of, support.sorted

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
