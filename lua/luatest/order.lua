--- luatest.order: the order and split of a run's tests: --shuffle (files,
--- then the tests of each file, from a seed) and --shard (whole files in
--- even parts). Loaded only when one of them is used.
local sort = table.sort

local M = {}

--- generator(seed): a function giving the next integer in 1..n, by the
--- "minimal standard" generator (Park and Miller, multiplier 48271), whose
--- arithmetic is exact in an integer and in a double alike, so that a seed
--- replays the same order under every Lua (seeds below 2^53).
local MODULUS = 2147483647

function M.generator(seed)
  local state = seed % (MODULUS - 1) + 1
  return function(n)
    state = state * 48271 % MODULUS
    return state % n + 1
  end
end

local function shuffle(list, next_int)
  for i = #list, 2, -1 do
    local j = next_int(i)
    list[i], list[j] = list[j], list[i]
  end
end

-- Each file's tests are shuffled by a generator of their own, from the
-- seed and a hash of the file's path, so editing one file does not reorder
-- the others. (Arithmetic only, as the generator.)
local function hash(s)
  local h = 0
  for i = 1, #s do
    h = (h * 31 + s:byte(i)) % MODULUS
  end
  return h
end

--- shard(entries, k, n, weight): the entries (files) of shard k of n, in
--- their order: the heaviest first (weight(entry): its test count, or the
--- sum of its tests' durations, see luatest.durations), each
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
    shuffle(e.items, M.generator(seed + hash(e.fstate.path)))
  end
end

return M
