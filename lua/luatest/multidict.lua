--- Multidicts: ordered lists of (key, value) pairs where a key may repeat,
--- as aiohttp's multidict package has them. `md[key]` reads the first value
--- (nil when absent), `md:getall(key)` all of them, `md:items()` iterates in
--- order. CIMultiDict compares keys without regard to case (headers).
local M = {}

local lower = string.lower

local function make_class(name, fold)
  local class = {}
  local methods = {}
  class.methods = methods

  local function norm(key)
    if fold and type(key) == "string" then
      return lower(key)
    end
    return key
  end

  --- Adds a value, keeping the values already there.
  function methods.add(self, key, value)
    local n = self._n + 1
    self._n = n
    self._k[n] = key
    self._nk[n] = norm(key)
    self._v[n] = value
  end

  --- All values of key, in order (an empty list when absent).
  function methods.getall(self, key, default)
    local nk, out = norm(key), {}
    local keys, vals = self._nk, self._v
    for i = 1, self._n do
      if keys[i] == nk then
        out[#out + 1] = vals[i]
      end
    end
    if #out == 0 and default ~= nil then
      return default
    end
    return out
  end

  --- The first value of key, or default.
  function methods.get(self, key, default)
    local nk = norm(key)
    local keys = self._nk
    for i = 1, self._n do
      if keys[i] == nk then
        return self._v[i]
      end
    end
    return default
  end
  methods.getone = methods.get

  function methods.contains(self, key)
    return methods.get(self, key) ~= nil
  end

  --- Removes every value of key; returns how many were removed.
  function methods.popall(self, key)
    local nk = norm(key)
    local k, n2, v, j = self._k, self._nk, self._v, 0
    local removed = {}
    for i = 1, self._n do
      if n2[i] == nk then
        removed[#removed + 1] = v[i]
      else
        j = j + 1
        k[j], n2[j], v[j] = k[i], n2[i], v[i]
      end
    end
    for i = j + 1, self._n do
      k[i], n2[i], v[i] = nil, nil, nil
    end
    self._n = j
    return removed
  end

  --- Iterates key, value in order.
  function methods.items(self)
    local i = 0
    return function()
      i = i + 1
      if i <= self._n then
        return self._k[i], self._v[i]
      end
    end
  end

  function methods.keys(self)
    local out = {}
    for i = 1, self._n do
      out[i] = self._k[i]
    end
    return out
  end

  function methods.values(self)
    local out = {}
    for i = 1, self._n do
      out[i] = self._v[i]
    end
    return out
  end

  function methods.copy(self)
    local c = class.new()
    for i = 1, self._n do
      methods.add(c, self._k[i], self._v[i])
    end
    return c
  end

  --- Adds every pair of a map or of a list of {key, value} pairs.
  function methods.extend(self, src)
    M.each_pair(src, function(k, v)
      methods.add(self, k, v)
    end)
    return self
  end

  --- The pairs as a flat list {k1, v1, k2, v2, ...}.
  function methods.flat(self)
    local out = {}
    for i = 1, self._n do
      out[2 * i - 1] = self._k[i]
      out[2 * i] = self._v[i]
    end
    return out
  end

  local mt = {
    __name = name,
    __index = function(self, key)
      local m = methods[key]
      if m ~= nil then
        return m
      end
      return methods.get(self, key)
    end,
    -- Assignment replaces every value of the key, as dict assignment does.
    __newindex = function(self, key, value)
      methods.popall(self, key)
      if value ~= nil then
        methods.add(self, key, value)
      end
    end,
    __len = function(self)
      return self._n
    end,
    __pairs = function(self)
      return methods.items(self), self, nil
    end,
    __tostring = function(self)
      local parts = {}
      for i = 1, self._n do
        parts[i] = string.format("%s: %s", tostring(self._k[i]), tostring(self._v[i]))
      end
      return "<" .. name .. "(" .. table.concat(parts, ", ") .. ")>"
    end,
  }
  class.mt = mt

  --- A new multidict, filled from a map or a list of {key, value} pairs.
  function class.new(src)
    local self = setmetatable({ _n = 0, _k = {}, _nk = {}, _v = {} }, mt)
    if src ~= nil then
      methods.extend(self, src)
    end
    return self
  end

  --- A new multidict from a flat list {k1, v1, k2, v2, ...}.
  function class.from_flat(flat)
    local n = math.floor(#flat / 2) -- (not //: LuaJIT cannot parse it)
    local k, nk, v = {}, {}, {}
    for i = 1, n do
      local key = flat[2 * i - 1]
      k[i] = key
      nk[i] = fold and lower(key) or key
      v[i] = flat[2 * i]
    end
    return setmetatable({ _n = n, _k = k, _nk = nk, _v = v }, mt)
  end

  setmetatable(class, {
    __call = function(_, src)
      return class.new(src)
    end,
  })
  return class
end

--- Calls fn(key, value) for a map, a list of {key, value} pairs, or a
--- multidict, in order where the source has one.
function M.each_pair(src, fn)
  if M.is_multidict(src) then
    for i = 1, src._n do
      fn(src._k[i], src._v[i])
    end
  elseif src[1] ~= nil and type(src[1]) == "table" then
    for _, pair in ipairs(src) do
      fn(pair[1], pair[2])
    end
  else
    local keys = {}
    for k in next, src do
      keys[#keys + 1] = k
    end
    table.sort(keys, function(a, b)
      return tostring(a) < tostring(b)
    end)
    for _, k in ipairs(keys) do
      fn(k, src[k])
    end
  end
end

--- flat_pairs(src) -> {name, value, name, value, ...} with both as
--- strings, from anything each_pair takes (nil gives an empty list).
function M.flat_pairs(src)
  local flat = {}
  if src ~= nil then
    M.each_pair(src, function(k, v)
      flat[#flat + 1] = tostring(k)
      flat[#flat + 1] = tostring(v)
    end)
  end
  return flat
end

M.MultiDict = make_class("MultiDict", false)
M.CIMultiDict = make_class("CIMultiDict", true)

function M.is_multidict(x)
  local mt = getmetatable(x)
  return mt == M.MultiDict.mt or mt == M.CIMultiDict.mt
end

return M
