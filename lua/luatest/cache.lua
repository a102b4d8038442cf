--- luatest.cache: what a run leaves for the next one in .luatest_cache/ of
--- the current directory, as pytest's .pytest_cache: `lastfailed`, the ids
--- of the tests (and the paths of the files that did not load) that failed
--- when they last ran, which --lf runs again; `durations`, the seconds each
--- test took when it last ran (luatest.durations' format), which --shard
--- balances by; and, with --store-durations, the same in that file.
local type, pairs, pcall, setmetatable = type, pairs, pcall, setmetatable
local format, concat, sort = string.format, table.concat, table.sort

local M = {}

--- The directory, relative to the current one.
M.DIR = ".luatest_cache"

--- The file of test durations in it.
M.DURATIONS = "durations"

local FILE = "lastfailed"

--- read_file(path): the file's text, or nil when it cannot be opened.
local function read_file(path)
  local f = io.open(path, "r")
  if not f then
    return nil
  end
  local text = f:read("*a") -- (5.1 knows only the "*" forms)
  f:close()
  return text
end
M.read_file = read_file

--- read_lastfailed(dir): the set (id -> true) of what failed when it last
--- ran; empty when nothing is recorded (or the record is unreadable).
function M.read_lastfailed(dir)
  local text = read_file((dir or M.DIR) .. "/" .. FILE)
  if not text then
    return {}
  end
  local ok, t = pcall(require("luatest.json").decode, text)
  local set = {}
  if ok and type(t) == "table" then
    for k, v in pairs(t) do
      if type(k) == "string" and v then
        set[k] = true
      end
    end
  end
  return set
end

--- keep_failed(entries, weight, filter): --lf. The plan entries ({ fstate,
--- items, skip }) reduced to what failed last time (a file that did not
--- load counts for all its tests), or all of them when nothing failed or
--- none of it was collected; and a note for the report header.
--- weight(entry) is an entry's test count, filter(items, keep) a new list
--- of the items whose id passes keep(id).
function M.keep_failed(entries, weight, filter)
  local failed = M.read_lastfailed()
  local known = 0
  for _ in pairs(failed) do
    known = known + 1
  end
  if known == 0 then
    return entries, "run-last-failure: no previously failed tests, running all of them"
  end
  local kept, n = {}, 0
  for i, e in ipairs(entries) do
    local whole = failed[e.fstate.path]
    local items = filter(e.items, function(id)
      return whole or failed[id]
    end)
    kept[i] = { fstate = e.fstate, items = items, skip = e.skip and whole or false }
    n = n + weight(kept[i])
  end
  if n == 0 then
    return entries, format("run-last-failure: the %d test%s that failed last time %s not collected, running all "
      .. "of them", known, known == 1 and "" or "s", known == 1 and "is" or "are")
  end
  return kept, format("run-last-failure: rerunning %d test%s that failed last time", n, n == 1 and "" or "s")
end

local function encode(set)
  local json = require "luatest.json"
  local ids = {}
  for id in pairs(set) do
    ids[#ids + 1] = id
  end
  sort(ids)
  if #ids == 0 then
    return "{}\n"
  end
  for i, id in ipairs(ids) do
    ids[i] = "  " .. json.encode(id, { invalid_utf8 = "replace" }) .. ": true"
  end
  return "{\n" .. concat(ids, ",\n") .. "\n}\n"
end

-- Makes the directory, with a .gitignore that ignores it.
--- make_dir(dir): makes the cache directory (and those above it), with a
--- .gitignore that keeps it out of version control.
local function make_dir(dir)
  -- (each directory down to it, without a shell: runs in fresh directories
  -- make the cache often)
  local mkdir, at = require("luatest.core").mkdir, 1
  while true do
    local slash = dir:find("/", at + 1, true)
    mkdir(slash and dir:sub(1, slash - 1) or dir)
    if not slash then
      break
    end
    at = slash
  end
  local g = io.open(dir .. "/.gitignore", "w")
  if g then
    g:write("# created by luatest\n*\n")
    g:close()
  end
end

M.make_dir = make_dir

--- write_atomic(path, text): writes the file through a temporary one
--- beside it (of its own name: runs in the same directory may end at once),
--- so a reader never sees half of it. true, or nil and the reason.
function M.write_atomic(path, text)
  local tmp = format("%s.%.0f.tmp", path, require("luatest.core").hrtime() * 1e9 % 1e12)
  local f, err = io.open(tmp, "w")
  if not f then
    return nil, err
  end
  f:write(text)
  f:close()
  local ok, rerr = os.rename(tmp, path)
  if not ok then
    os.remove(tmp)
    return nil, rerr
  end
  return true
end

-- Writes the record, making the directory when needed. true, or nil and a
-- message.
local function write(dir, text)
  local path = dir .. "/" .. FILE
  local ok, err = M.write_atomic(path, text)
  if not ok then
    make_dir(dir)
    ok, err = M.write_atomic(path, text)
  end
  if not ok then
    return nil, format("cannot record the failed tests for --lf: %s", err)
  end
  return true
end

local Tracker = {}
Tracker.__index = Tracker

--- tracker(dir): a report subscriber noting which tests failed and which
--- passed or were skipped; tracker:save() applies that to the record.
--- (With no record yet, only failures matter, and only they are noted.)
function M.tracker(dir)
  dir = dir or M.DIR
  local f = io.open(dir .. "/" .. FILE, "r")
  if f then
    f:close()
  end
  return setmetatable({ dir = dir, failed = {}, passed = f and {} or nil, any_failed = false, durations = {},
    timed = false }, Tracker)
end

function Tracker:test_end(r)
  local id, passed = r.test.id, self.passed
  if r.duration and r.test.kind ~= "file" then
    self.durations[id] = r.duration
    self.timed = true
  end
  if r.status == "fail" or r.status == "error" then
    self.failed[id] = true
    self.any_failed = true
    if passed then
      passed[id] = nil
    end
  elseif passed then
    passed[id], self.failed[id] = true, nil
  else
    self.failed[id] = nil
  end
end

function Tracker:collect_error(e)
  self.failed[e.file] = true
  self.any_failed = true
end

--- tracker:loaded(path): the file loaded, so it no longer counts as failed.
function Tracker:loaded(path)
  if self.passed then
    self.passed[path] = true
  end
end

-- The durations of this run merged into the cache's (a cache that cannot
-- be written only loses the balance of the next --shard, so quietly),
-- unless tracker.shard_run; and into tracker.store_durations (a file
-- name) when that is set.
function Tracker:save_durations()
  if not self.timed then
    return true
  end
  local durations = require "luatest.durations"
  -- A shard's run leaves the cache alone: the next shard run here must
  -- split by the same durations, or tests would be run twice or never.
  if not self.shard_run then
    local path = self.dir .. "/" .. M.DURATIONS
    if not durations.merge(path, self.durations, true) then
      make_dir(self.dir)
      durations.merge(path, self.durations, true)
    end
  end
  if self.store_durations then
    local ok, err = durations.merge(self.store_durations, self.durations)
    if not ok then
      return nil, "--store-durations: " .. err
    end
  end
  return true
end

--- read_durations(dir): the durations the last runs stored in the cache
--- (id -> seconds); empty when there are none or they are unreadable.
function M.read_durations(dir)
  return require("luatest.durations").read((dir or M.DIR) .. "/" .. M.DURATIONS) or {}
end

local function save_lastfailed(self)
  if not self.any_failed and not self.passed then
    return true
  end
  local set = M.read_lastfailed(self.dir)
  local changed = require("luatest.durations").drop_missing(set, self.failed) > 0
  for id in pairs(self.passed or {}) do
    if set[id] then
      set[id] = nil
      changed = true
    end
  end
  for id in pairs(self.failed) do
    if not set[id] then
      set[id] = true
      changed = true
    end
  end
  if not changed then
    return true
  end
  return write(self.dir, encode(set))
end

--- tracker:save(): merges this run into the record (tests that did not run
--- keep their state) and the durations. true, or nil and a message.
function Tracker:save()
  local ok, err = save_lastfailed(self)
  local dok, derr = self:save_durations()
  if not ok or not dok then
    return nil, err or derr
  end
  return true
end

return M
