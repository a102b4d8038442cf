--- luatest.durations: what --shard balances by and where it comes from.
--- Test durations are a JSON object mapping test id to seconds, as
--- pytest-split's `.test_durations`: each run stores its own in
--- .luatest_cache/durations (luatest.cache), --store-durations also in
--- --durations-file F (default .test_durations); --shard reads F when given,
--- the cache otherwise. --shard auto takes its K/N from the CI's variables.
local type, pairs, next, pcall, tostring, tonumber, format = type, pairs, next, pcall, tostring, tonumber,
  string.format
local tointeger = require("luatest.compat").tointeger

local M = {}

--- The file --store-durations writes without --durations-file (pytest-split's
--- default --durations-path).
M.DEFAULT_FILE = ".test_durations"

-- A test weighs at least this much (seconds), so that a file of tests
-- recorded at 0 s still goes to some shard.
local MIN = 1e-6

--- read(path): the durations in a file: a table id -> seconds; false when
--- the file does not exist; nil and a message when it is not such an
--- object. Entries that are not a number >= 0 are left out.
function M.read(path)
  local text = require("luatest.cache").read_file(path)
  if not text then
    return false
  end
  local ok, t = pcall(require("luatest.json").decode, text)
  if not ok then
    return nil, format("%s: not JSON (%s)", path, tostring(t))
  end
  if type(t) ~= "table" then
    return nil, format("%s: expected a JSON object mapping test ids to seconds", path)
  end
  local out = {}
  if require("luatest.json").is_array(t) then
    -- (pytest-split before 0.3 wrote a list of [id, seconds] pairs)
    for _, pair in ipairs(t) do
      if type(pair) ~= "table" or type(pair[1]) ~= "string" or type(pair[2]) ~= "number" then
        return nil, format("%s: expected a JSON object mapping test ids to seconds", path)
      end
    end
    for _, pair in ipairs(t) do
      t[pair[1]] = pair[2]
    end
    for i = #t, 1, -1 do
      t[i] = nil
    end
  end
  for k, v in pairs(t) do
    if type(k) == "string" and type(v) == "number" and v >= 0 and v == v and v < math.huge then
      out[k] = v
    end
  end
  return out
end

--- encode(set): the JSON text of a durations table, keys sorted, one a line.
function M.encode(set)
  if next(set) == nil then
    return "{}\n"
  end
  return require("luatest.json").encode(set, { sort_keys = true, indent = 2 }) .. "\n"
end

--- write(path, set): writes a durations table to path through a temporary
--- file beside it. true, or nil and a message.
function M.write(path, set)
  local ok, err = require("luatest.cache").write_atomic(path, M.encode(set))
  if not ok then
    return nil, format("cannot write the test durations: %s", err)
  end
  return true
end

--- drop_missing(set, keep): removes from set (test id -> anything) the
--- tests whose spec file is gone, except those in keep; returns how many
--- it removed. The cache's files
--- keep only what can run again: suites generated in temporary directories
--- would otherwise make them grow with every run, and every run reads them.
function M.drop_missing(set, keep)
  local stat, exists, removed = require("luatest.core").stat, {}, 0
  for id in pairs(set) do
    if keep[id] == nil then
      local file = id:match("^(.-)::") or id
      local there = exists[file]
      if there == nil then
        there = stat(file) ~= nil
        exists[file] = there
      end
      if not there then
        set[id] = nil
        removed = removed + 1
      end
    end
  end
  return removed
end

--- merge(path, new, prune): the durations in path (when readable) updated
--- with those of this run, written back; prune: less those of tests whose
--- spec file is gone. true, or nil and a message.
function M.merge(path, new, prune)
  local old = M.read(path) or {}
  if prune then
    M.drop_missing(old, new)
  end
  -- (to the microsecond: a file people commit should not churn on noise)
  for id, d in pairs(new) do
    old[id] = math.floor(d * 1e6 + 0.5) / 1e6
  end
  return M.write(path, old)
end

--- weigher(entries, durations): the weight of a plan entry for --shard,
--- the sum of its tests' durations, a test without one weighing the
--- average of the collected tests that have one; nil when none has one
--- (then the shards are balanced by test count).
function M.weigher(entries, durations)
  if not durations then
    return nil
  end
  local sum, known = 0, 0
  for _, e in ipairs(entries) do
    for _, item in ipairs(e.items) do
      local d = durations[item.id]
      if d then
        sum, known = sum + d, known + 1
      end
    end
  end
  if known == 0 then
    return nil
  end
  local average = sum / known
  local function of(id)
    local d = durations[id] or average
    return d > MIN and d or MIN
  end
  return function(e)
    local w = e.skip and of(e.fstate.path) or 0
    for _, item in ipairs(e.items) do
      w = w + of(item.id)
    end
    return w
  end
end

-- ---- --shard auto --------------------------------------------------------------------------

-- The CI services' parallel-job variables, in the order they are looked
-- for: index, total, and the number of the first job.
local SOURCES = {
  { "CI_NODE_INDEX", "CI_NODE_TOTAL", 1, "GitLab" },
  { "CIRCLE_NODE_INDEX", "CIRCLE_NODE_TOTAL", 0, "CircleCI" },
  { "BUILDKITE_PARALLEL_JOB", "BUILDKITE_PARALLEL_JOB_COUNT", 0, "Buildkite" },
}

local function whole(s)
  local n = tonumber(s)
  return n and s:find("^%s*%d+%s*$") and tointeger(n) or nil
end

--- from_env(getenv): the shard of --shard auto from the first CI whose
--- variables are set: { k, n, source = "CI_NODE_INDEX=2 CI_NODE_TOTAL=3" }
--- (k 1-based); nil and a message when none is set or the values are
--- wrong. (A GitLab job without `parallel:` has CI_NODE_TOTAL=1 and no
--- CI_NODE_INDEX: the whole suite, 1/1.)
function M.from_env(getenv)
  getenv = getenv or os.getenv
  local names = {}
  for _, s in ipairs(SOURCES) do
    local iname, nname, first = s[1], s[2], s[3]
    local iv, nv = getenv(iname), getenv(nname)
    iv = iv ~= "" and iv or nil
    nv = nv ~= "" and nv or nil
    if iv or nv then
      local source = format("%s=%s %s=%s", iname, iv or "(unset)", nname, nv or "(unset)")
      local n = nv and whole(nv)
      if not iv and first == 1 and n == 1 then
        return { 1, 1, source = source }
      end
      local i = iv and whole(iv)
      if not i or not n or n < 1 then
        return nil, format("option --shard auto: %s (%s): expected both set to whole numbers", source, s[4])
      end
      local k = i - first + 1
      if k < 1 or k > n then
        return nil, format("option --shard auto: %s (%s): the index is out of range (%s counts from %d)", source,
          s[4], iname, first)
      end
      return { k, n, source = source }
    end
    names[#names + 1] = format("%s/%s (%s)", iname, nname, s[4])
  end
  return nil, format("option --shard auto: no CI parallel-job variables are set (looked for %s); give --shard K/N",
    table.concat(names, ", "))
end

return M
