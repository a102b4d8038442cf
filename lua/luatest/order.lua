--- luatest.order: the order and split of a run's tests: --shuffle (files,
--- then the tests of each file, from a seed) and --shard (whole files in
--- even parts). Loaded only when one of them is used.
local sort = table.sort

local M = {}

--- generator(seed): a function giving the next integer in 1..n, by
--- splitmix64, whose sequence depends only on the seed (not on the Lua
--- version), so that a seed replays the same order anywhere.
function M.generator(seed)
  local state = seed
  return function(n)
    state = state + 0x9E3779B97F4A7C15
    local z = state
    z = (z ~ (z >> 30)) * 0xBF58476D1CE4E5B9
    z = (z ~ (z >> 27)) * 0x94D049BB133111EB
    z = z ~ (z >> 31)
    return z % n + 1
  end
end

local function shuffle(list, next_int)
  for i = #list, 2, -1 do
    local j = next_int(i)
    list[i], list[j] = list[j], list[i]
  end
end

-- FNV-1a: each file's tests are shuffled by a generator of their own, so
-- editing one file does not reorder the others.
local function hash(s)
  local h = 0xCBF29CE484222325
  for i = 1, #s do
    h = (h ~ s:byte(i)) * 1099511628211
  end
  return h
end

--- shard(entries, k, n, weight): the entries (files) of shard k of n, in
--- their order: the heaviest first (weight(entry): its test count), each
--- to the least loaded shard (ties to the lowest number), so that the
--- shards are even, the same on every machine, and their union is the whole.
function M.shard(entries, k, n, weight)
  local order = {}
  for i, e in ipairs(entries) do
    local w = weight(e)
    if w > 0 then
      order[#order + 1] = { i = i, w = w }
    end
  end
  sort(order, function(a, b)
    if a.w ~= b.w then
      return a.w > b.w
    end
    return a.i < b.i
  end)
  local load, owner = {}, {}
  for s = 1, n do
    load[s] = 0
  end
  for _, f in ipairs(order) do
    local best = 1
    for s = 2, n do
      if load[s] < load[best] then
        best = s
      end
    end
    load[best] = load[best] + f.w
    owner[f.i] = best
  end
  local out = {}
  for i, e in ipairs(entries) do
    if owner[i] == k then
      out[#out + 1] = e
    end
  end
  return out
end

--- shuffle_plan(plan, seed): shuffles the order of the files of a plan
--- (see runner.select), and the tests of each file, from the seed.
function M.shuffle_plan(plan, seed)
  shuffle(plan, M.generator(seed))
  for _, e in ipairs(plan) do
    shuffle(e.items, M.generator(seed ~ hash(e.fstate.path)))
  end
end

return M
