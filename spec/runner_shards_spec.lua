-- CI fleets (API.md section 12): --shard auto from the CI's parallel-job
-- variables, shards balanced by test durations (.luatest_cache/, or
-- --durations-file, written by --store-durations), and --merge-junit.
local luatest = require "luatest"
local eq, contains, same = luatest.eq, luatest.contains, luatest.same

local HERE = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
local support = dofile(HERE .. "/support/runner.lua")
local run, write_file, lines_of, read_junit, quote = support.run, support.write_file, support.lines_of,
  support.read_junit, support.quote

luatest.fixture("tmpdir", support.tmpdir)

local CI_VARS = { "CI_NODE_INDEX", "CI_NODE_TOTAL", "CIRCLE_NODE_INDEX", "CIRCLE_NODE_TOTAL",
  "BUILDKITE_PARALLEL_JOB", "BUILDKITE_PARALLEL_JOB_COUNT" }

-- A shell prefix that unsets every CI variable, then sets `vars`.
local function ci_env(vars)
  local parts = { "env" }
  for _, name in ipairs(CI_VARS) do
    parts[#parts + 1] = "-u " .. name
  end
  for _, pair in ipairs(vars or {}) do
    parts[#parts + 1] = quote(pair)
  end
  return table.concat(parts, " ") .. " "
end

-- Six spec files m1..m6 holding 1 to 6 tests, in dir.
local function six_files(dir)
  for i = 1, 6 do
    local lines = {}
    for j = 1, i do
      lines[j] = string.format("function test_%d_%d() end", i, j)
    end
    write_file(string.format("%s/m%d_spec.lua", dir, i), table.concat(lines, "\n") .. "\n")
  end
end

-- The files (m1 ... m6) of a --list output, in order.
local function files_of(out)
  local files, seen = {}, {}
  for _, id in ipairs(lines_of(out)) do
    local f = id:match("^m(%d)_spec%.lua::")
    if f and not seen[f] then
      seen[f] = true
      files[#files + 1] = tonumber(f)
    end
  end
  table.sort(files)
  return files
end

local function list_shard(dir, shard, extra, env)
  local args = { "--list", "--shard", shard }
  for _, a in ipairs(extra or {}) do
    args[#args + 1] = a
  end
  args[#args + 1] = "."
  local r = run(args, env or ci_env(), dir)
  eq(r.code, 0, r.err)
  return files_of(r.out), r
end

describe("--shard auto", function()
  it("reads GitLab's CI_NODE_INDEX/CI_NODE_TOTAL, 1-based", function(tmpdir)
    six_files(tmpdir)
    local r = run({ "--shard", "auto", "." }, ci_env { "CI_NODE_INDEX=2", "CI_NODE_TOTAL=3" }, tmpdir)
    eq(r.code, 0)
    contains(r.out, "shard 2/3: 7 tests in 2 files (CI_NODE_INDEX=2 CI_NODE_TOTAL=3)\n")
    same(list_shard(tmpdir, "auto", nil, ci_env { "CI_NODE_INDEX=2", "CI_NODE_TOTAL=3" }),
      list_shard(tmpdir, "2/3"))
  end)

  it("reads CircleCI's and Buildkite's variables, 0-based", function(tmpdir)
    six_files(tmpdir)
    same(list_shard(tmpdir, "auto", nil, ci_env { "CIRCLE_NODE_INDEX=0", "CIRCLE_NODE_TOTAL=3" }),
      list_shard(tmpdir, "1/3"))
    same(list_shard(tmpdir, "auto", nil, ci_env { "BUILDKITE_PARALLEL_JOB=2", "BUILDKITE_PARALLEL_JOB_COUNT=3" }),
      list_shard(tmpdir, "3/3"))
  end)

  it("takes the first CI found: GitLab, then CircleCI, then Buildkite", function(tmpdir)
    six_files(tmpdir)
    same(list_shard(tmpdir, "auto", nil, ci_env { "CI_NODE_INDEX=1", "CI_NODE_TOTAL=3", "CIRCLE_NODE_INDEX=2",
      "CIRCLE_NODE_TOTAL=3", "BUILDKITE_PARALLEL_JOB=1", "BUILDKITE_PARALLEL_JOB_COUNT=3" }), list_shard(tmpdir, "1/3"))
    same(list_shard(tmpdir, "auto", nil, ci_env { "CIRCLE_NODE_INDEX=2", "CIRCLE_NODE_TOTAL=3",
      "BUILDKITE_PARALLEL_JOB=0", "BUILDKITE_PARALLEL_JOB_COUNT=3" }), list_shard(tmpdir, "3/3"))
  end)

  it("is bad usage when no CI variables are set, or they are wrong", function(tmpdir)
    six_files(tmpdir)
    local r = run({ "--shard", "auto", "." }, ci_env(), tmpdir)
    eq(r.code, 2)
    eq(r.out, "")
    contains(r.err, "option --shard auto: ")
    for _, name in ipairs(CI_VARS) do
      contains(r.err, name)
    end
    for _, vars in ipairs {
      { "CI_NODE_INDEX=0", "CI_NODE_TOTAL=3" },
      { "CI_NODE_INDEX=4", "CI_NODE_TOTAL=3" },
      { "CIRCLE_NODE_INDEX=3", "CIRCLE_NODE_TOTAL=3" },
      { "BUILDKITE_PARALLEL_JOB=x", "BUILDKITE_PARALLEL_JOB_COUNT=3" },
      { "CIRCLE_NODE_INDEX=1" },
    } do
      local bad = run({ "--shard", "auto", "." }, ci_env(vars), tmpdir)
      eq(bad.code, 2, table.concat(vars, " "))
      contains(bad.err, "option --shard auto: " .. vars[1])
    end
  end)

  it("may be set in .luatest.lua", function(tmpdir)
    six_files(tmpdir)
    write_file(tmpdir .. "/.luatest.lua", 'return {shard = "auto"}\n')
    same(files_of(run({ "--list", "." }, ci_env { "CI_NODE_INDEX=3", "CI_NODE_TOTAL=3" }, tmpdir).out),
      list_shard(tmpdir, "3/3"))
  end)
end)

-- Durations that make m1 the heaviest file: by test count the shards of 3
-- are {1, 6}, {2, 5}, {3, 4}; by these (the other tests weighing the
-- average, 6 s) {2, 6}, {1, 5}, {3, 4}.
local DURATIONS = '{"m1_spec.lua::test_1_1": 10, "m2_spec.lua::test_2_1": 4, "m2_spec.lua::test_2_2": 4}\n'

describe("--shard balanced by durations", function()
  it("splits by test count when there are no durations", function(tmpdir)
    six_files(tmpdir)
    same(list_shard(tmpdir, "1/3"), { 1, 6 })
    same(list_shard(tmpdir, "2/3"), { 2, 5 })
    same(list_shard(tmpdir, "3/3"), { 3, 4 })
  end)

  it("uses --durations-file, a test without a duration weighing the average", function(tmpdir)
    six_files(tmpdir)
    write_file(tmpdir .. "/d.json", DURATIONS)
    local a, r = list_shard(tmpdir, "1/3", { "--durations-file", "d.json" })
    same(a, { 2, 6 })
    same(list_shard(tmpdir, "2/3", { "--durations-file", "d.json" }), { 1, 5 })
    same(list_shard(tmpdir, "3/3", { "--durations-file", "d.json" }), { 3, 4 })
    eq(r.err, "")
    local full = run({ "--shard", "1/3", "--durations-file", "d.json", "." }, ci_env(), tmpdir)
    contains(full.out, "shard 1/3: 8 tests in 2 files (balanced by the durations in d.json)\n")
  end)

  it("gives disjoint shards whose union is the whole, with durations", function(tmpdir)
    six_files(tmpdir)
    write_file(tmpdir .. "/d.json", DURATIONS)
    local seen = {}
    for k = 1, 4 do
      for _, f in ipairs(list_shard(tmpdir, k .. "/4", { "--durations-file", "d.json" })) do
        assert(not seen[f], "in two shards: m" .. f)
        seen[f] = true
      end
    end
    for f = 1, 6 do
      assert(seen[f], "in no shard: m" .. f)
    end
  end)

  it("uses the durations the last runs stored in .luatest_cache/", function(tmpdir)
    six_files(tmpdir)
    eq(run({ "." }, ci_env(), tmpdir).code, 0)
    local stored = require("luatest.json").decode(io.open(tmpdir .. "/.luatest_cache/durations"):read("*a"))
    local n = 0
    for id, d in pairs(stored) do
      n = n + 1
      assert(id:find("^m%d_spec%.lua::test_%d_%d$"), id)
      assert(type(d) == "number" and d >= 0, id)
    end
    eq(n, 21)
    -- a run of some tests keeps the durations of the others
    eq(run({ "-k", "m1_spec", "." }, ci_env(), tmpdir).code, 0)
    stored = require("luatest.json").decode(io.open(tmpdir .. "/.luatest_cache/durations"):read("*a"))
    n = 0
    for _ in pairs(stored) do
      n = n + 1
    end
    eq(n, 21)
    write_file(tmpdir .. "/.luatest_cache/durations", DURATIONS)
    local files, r = list_shard(tmpdir, "1/3")
    same(files, { 2, 6 })
    eq(r.err, "")
    local full = run({ "--shard", "1/3", "." }, ci_env(), tmpdir)
    contains(full.out, "(balanced by the durations in .luatest_cache/durations)\n")
    -- a shard's run leaves them as they were, so the next shard splits alike
    eq(io.open(tmpdir .. "/.luatest_cache/durations"):read("*a"), DURATIONS)
    same(list_shard(tmpdir, "2/3"), { 1, 5 })
  end)

  it("covers the suite once over shards run one after the other in one directory", function(tmpdir)
    six_files(tmpdir)
    local ran = {}
    for k = 1, 3 do
      local r = run({ "-v", "--shard", k .. "/3", "." }, ci_env(), tmpdir)
      eq(r.code, 0)
      for id in r.out:gmatch("PASS (%S+)") do
        assert(not ran[id], "run twice: " .. id)
        ran[id] = true
      end
    end
    local n = 0
    for _ in pairs(ran) do
      n = n + 1
    end
    eq(n, 21)
  end)

  it("refuses a --durations-file that is not durations, naming it; a missing one is none", function(tmpdir)
    six_files(tmpdir)
    write_file(tmpdir .. "/bad.json", "[1, 2]\n")
    write_file(tmpdir .. "/broken.json", "{not json\n")
    for _, name in ipairs { "bad.json", "broken.json" } do
      local r = run({ "--shard", "1/3", "--durations-file", name, "." }, ci_env(), tmpdir)
      eq(r.code, 2)
      contains(r.err, "--durations-file: " .. name .. ": ")
    end
    same(list_shard(tmpdir, "1/3", { "--durations-file", "missing.json" }), { 1, 6 })
  end)

  it("reads pytest-split's older list of [id, seconds] pairs too", function(tmpdir)
    six_files(tmpdir)
    write_file(tmpdir .. "/old.json", '[["m1_spec.lua::test_1_1", 10], ["m2_spec.lua::test_2_1", 4], '
      .. '["m2_spec.lua::test_2_2", 4]]\n')
    same(list_shard(tmpdir, "1/3", { "--durations-file", "old.json" }), { 2, 6 })
  end)
end)

describe("--store-durations", function()
  local function read_json(path)
    local f = assert(io.open(path))
    local t = require("luatest.json").decode(f:read("*a"))
    f:close()
    return t
  end

  it("writes .test_durations without --durations-file", function(tmpdir)
    six_files(tmpdir)
    local r = run({ "--store-durations", "." }, ci_env(), tmpdir)
    eq(r.code, 0)
    local t = read_json(tmpdir .. "/.test_durations")
    local n = 0
    for id, d in pairs(t) do
      n = n + 1
      assert(id:find("^m%d_spec%.lua::test_%d_%d$"), id)
      assert(type(d) == "number" and d >= 0, id)
    end
    eq(n, 21)
  end)

  it("merges into --durations-file F: the tests that ran updated, the others kept", function(tmpdir)
    six_files(tmpdir)
    write_file(tmpdir .. "/d.json", '{"gone_spec.lua::test_old": 3.5, "m1_spec.lua::test_1_1": 99}\n')
    local r = run({ "--store-durations", "--durations-file", "d.json", "-k", "m1_spec", "." }, ci_env(), tmpdir)
    eq(r.code, 0)
    local t = read_json(tmpdir .. "/d.json")
    eq(t["gone_spec.lua::test_old"], 3.5)
    assert(t["m1_spec.lua::test_1_1"] < 99, "not updated")
    eq(t["m2_spec.lua::test_2_1"], nil)
    eq(io.open(tmpdir .. "/.test_durations"), nil)
    -- what it wrote balances the next --shard
    write_file(tmpdir .. "/d.json", DURATIONS)
    r = run({ "--store-durations", "--durations-file", "d.json", "--shard", "1/3", "--list", "." }, ci_env(), tmpdir)
    same(files_of(r.out), { 2, 6 })
  end)

  it("does not overwrite a --durations-file that is not durations", function(tmpdir)
    six_files(tmpdir)
    write_file(tmpdir .. "/notes.txt", "my notes\n")
    local r = run({ "--store-durations", "--durations-file", "notes.txt", "." }, ci_env(), tmpdir)
    eq(r.code, 2)
    contains(r.err, "--durations-file: notes.txt: ")
    eq(io.open(tmpdir .. "/notes.txt"):read("*a"), "my notes\n")
  end)
end)

describe("--merge-junit", function()
  it("writes one <testsuites> with the totals of its inputs, silently", function(tmpdir)
    six_files(tmpdir)
    write_file(tmpdir .. "/z_spec.lua", 'local luatest = require "luatest"\n'
      .. 'function test_fail() luatest.eq(1, 2) end\nfunction test_err() error("x > y") end\n'
      .. 'function test_skip() luatest.skip("later") end\n')
    for k = 1, 2 do
      run({ "--shard", k .. "/2", "--junit-xml", "j" .. k .. ".xml", "." }, ci_env(), tmpdir)
    end
    local r = run({ "--merge-junit", "all.xml", "j1.xml", "j2.xml" }, ci_env(), tmpdir)
    eq(r.code, 0)
    eq(r.out, "")
    eq(r.err, "")
    local one, two, all = read_junit(tmpdir .. "/j1.xml"), read_junit(tmpdir .. "/j2.xml"),
      read_junit(tmpdir .. "/all.xml")
    eq(all.counts[1], "testsuites")
    same({ all.counts[2], all.counts[3], all.counts[4], all.counts[5] }, { 24, 1, 1, 1 })
    for i = 2, 5 do
      eq(all.counts[i], one.counts[i] + two.counts[i])
    end
    eq(#all.suites, 7)
    eq(#all.suites, #one.suites + #two.suites)
    local names = {}
    for _, s in ipairs(all.suites) do
      names[#names + 1] = s.name
    end
    table.sort(names)
    same(names, { "m1_spec.lua", "m2_spec.lua", "m3_spec.lua", "m4_spec.lua", "m5_spec.lua", "m6_spec.lua",
      "z_spec.lua" })
  end)

  it("takes <testsuite> documents and counts what their attributes leave out", function(tmpdir)
    write_file(tmpdir .. "/py.xml", '<?xml version="1.0"?>\n<!-- from elsewhere -->\n'
      .. '<testsuite name="pytest" time="1.5"><testcase name="a" time="0.5"/>'
      .. '<testcase name="b" time="0.5"><failure message="1 &gt; 0">x</failure></testcase>'
      .. '<testcase name="c" time="0"><skipped/></testcase></testsuite>\n')
    write_file(tmpdir .. "/other.xml", '<testsuites><testsuite name="s" tests="2" failures="0" errors="1" '
      .. 'skipped="0" time="0.25"><testcase name="d" time="0.25"/><testcase name="e" time="0">'
      .. '<error message="no"/></testcase>'
      .. '</testsuite></testsuites>\n')
    local r = run({ "--merge-junit", "out.xml", "py.xml", "other.xml" }, nil, tmpdir)
    eq(r.code, 0)
    local all = read_junit(tmpdir .. "/out.xml")
    same(all.counts, { "testsuites", 5, 1, 1, 1, 1.75 })
    eq(#all.suites, 2)
  end)

  it("is bad usage for an input that is missing or not JUnit XML, naming it", function(tmpdir)
    write_file(tmpdir .. "/good.xml", '<testsuites><testsuite name="s" tests="0"/></testsuites>\n')
    write_file(tmpdir .. "/cut.xml", "<testsuites><testsuite name='s'>\n")
    write_file(tmpdir .. "/html.xml", "<html><body/></html>\n")
    for _, name in ipairs { "cut.xml", "html.xml", "missing.xml" } do
      local r = run({ "--merge-junit", "out.xml", "good.xml", name }, nil, tmpdir)
      eq(r.code, 2)
      contains(r.err, "--merge-junit: ")
      contains(r.err, name)
      eq(io.open(tmpdir .. "/out.xml"), nil)
    end
    local r = run({ "--merge-junit", "out.xml" }, nil, tmpdir)
    eq(r.code, 2)
    contains(r.err, "--merge-junit: no input files")
  end)
end)

describe(".luatest_cache", function()
  it("keeps no durations or failures of tests whose spec file is gone", function(tmpdir)
    local json = require "luatest.json"
    assert(os.execute("mkdir -p " .. quote(tmpdir .. "/.luatest_cache")))
    write_file(tmpdir .. "/a_spec.lua", "function test_a() end\nfunction test_f() error('x') end\n")
    write_file(tmpdir .. "/b_spec.lua", "function test_b() end\n")
    write_file(tmpdir .. "/.luatest_cache/durations", json.encode {
      ["gone_spec.lua::test_old"] = 1.5, ["b_spec.lua::test_b"] = 2.5 })
    write_file(tmpdir .. "/.luatest_cache/lastfailed", json.encode {
      ["gone_spec.lua::test_old"] = true, ["b_spec.lua::test_b"] = true })
    run({ "a_spec.lua" }, nil, tmpdir)
    local d = json.decode(support.read_file(tmpdir .. "/.luatest_cache/durations"))
    eq(d["gone_spec.lua::test_old"], nil)
    eq(d["b_spec.lua::test_b"], 2.5) -- not run this time, but still there to run
    assert(d["a_spec.lua::test_a"] and d["a_spec.lua::test_f"])
    local f = json.decode(support.read_file(tmpdir .. "/.luatest_cache/lastfailed"))
    same(f, { ["b_spec.lua::test_b"] = true, ["a_spec.lua::test_f"] = true })
  end)
end)
