--- luatest.assert: the assertion helpers (eq, same, match, contains, raises,
--- near, fail) and the value printer the reports use. A failed assertion
--- raises a Failure object, which reports tell apart from ordinary errors.
local type, tostring, format, getmetatable, setmetatable = type, tostring, string.format, getmetatable, setmetatable
local rawget, next, pcall, select, error = rawget, next, pcall, select, error
local yield_safe_pcall = require("luatest.compat").pcall
local concat, sort = table.concat, table.sort
local getinfo = debug.getinfo
local math_type, huge, quote = require("luatest.compat").math_type, math.huge, require("luatest.compat").quote

local M = {}

--- Whether f can be called: a function or a value whose metatable has __call.
function M.is_callable(f)
  if type(f) == "function" then
    return true
  end
  local mt = getmetatable(f)
  return type(mt) == "table" and mt.__call ~= nil
end

-- ---- failure objects ----------------------------------------------------------------

local Failure = {}
Failure.__name = "luatest.Failure"
Failure.__tostring = function(self)
  if self.where then
    return self.where .. ": " .. self.message
  end
  return self.message
end
M.Failure = Failure

--- True when `e` is an assertion failure raised by a helper.
function M.is_failure(e)
  return getmetatable(e) == Failure
end

-- Raises a Failure whose position is the caller of the helper that called
-- this (level 1 = this function, 2 = the helper, 3 = its caller).
local function fail_at(level, message)
  local where
  local ar = getinfo(level + 1, "Sl")
  if ar and ar.currentline and ar.currentline > 0 then
    where = ar.short_src .. ":" .. ar.currentline
  end
  error(setmetatable({ luatest_assertion = true, message = message, where = where }, Failure), 0)
end

--- fail(message): fails the test with this message.
function M.fail(message)
  fail_at(2, message == nil and "failed" or tostring(message))
end

-- ---- printing values -------------------------------------------------------------------

local MAX_STRING, MAX_ITEMS, MAX_DEPTH = 200, 20, 3

local function repr_string(s)
  local extra = ""
  if #s > MAX_STRING then
    extra = format("...(%d bytes)", #s)
    s = s:sub(1, MAX_STRING)
  end
  return (quote(s):gsub("\\\n", "\\n")) .. extra
end

local function repr_number(n)
  if math_type(n) == "integer" then
    return format("%d", n)
  end
  if n ~= n then
    return "nan"
  elseif n == huge then
    return "inf"
  elseif n == -huge then
    return "-inf"
  end
  local s = format("%.14g", n)
  if tonumber(s) ~= n then
    s = format("%.17g", n)
  end
  if not s:find("[.eEn]") then
    s = s .. ".0"
  end
  return s
end

local function is_identifier(k)
  return type(k) == "string" and k:find("^[%a_][%w_]*$") ~= nil
end

local function key_lt(a, b)
  local ta, tb = type(a), type(b)
  if ta ~= tb then
    return ta < tb
  end
  if ta == "number" or ta == "string" then
    return a < b
  end
  return tostring(a) < tostring(b)
end

local repr

local function repr_table(t, depth, seen)
  local mt = getmetatable(t)
  if mt and type(mt) == "table" and rawget(mt, "__tostring") then
    local ok, s = pcall(tostring, t)
    if ok and type(s) == "string" then
      return s
    end
  end
  if seen[t] then
    return "<cycle>"
  end
  if depth >= MAX_DEPTH then
    return "{...}"
  end
  seen[t] = true
  local parts, n = {}, 0
  local len = 0
  while rawget(t, len + 1) ~= nil do
    len = len + 1
  end
  for i = 1, len do
    n = n + 1
    if n > MAX_ITEMS then
      break
    end
    parts[n] = repr(rawget(t, i), depth + 1, seen)
  end
  local keys = {}
  for k in next, t do
    if not (math_type(k) == "integer" and k >= 1 and k <= len) then
      keys[#keys + 1] = k
    end
  end
  sort(keys, key_lt)
  for _, k in ipairs(keys) do
    n = n + 1
    if n > MAX_ITEMS then
      break
    end
    local ks = is_identifier(k) and k or "[" .. repr(k, depth + 1, seen) .. "]"
    parts[n] = ks .. " = " .. repr(rawget(t, k), depth + 1, seen)
  end
  seen[t] = nil
  if n > MAX_ITEMS then
    parts[MAX_ITEMS + 1] = "..."
    for i = MAX_ITEMS + 2, n do
      parts[i] = nil
    end
  end
  return "{" .. concat(parts, ", ") .. "}"
end

function repr(v, depth, seen)
  local t = type(v)
  if t == "string" then
    return repr_string(v)
  elseif t == "number" then
    return repr_number(v)
  elseif t == "table" then
    return repr_table(v, depth or 0, seen or {})
  end
  local ok, s = pcall(tostring, v)
  return ok and s or "<" .. t .. ">"
end

--- repr(v): a short, readable rendering of any value (strings quoted,
--- tables shown to a limited depth), used in assertion messages and reports.
function M.repr(v)
  return repr(v, 0, {})
end

-- ---- deep comparison ---------------------------------------------------------------------

local function format_key(k)
  if is_identifier(k) then
    return "." .. k
  end
  return "[" .. repr(k, 0, {}) .. "]"
end

-- Returns nil when equal, else true, the two differing values and a list of
-- the keys leading there, innermost first.
local function diff(a, b, seen)
  if a == b or (a ~= a and b ~= b) then
    return nil
  end
  if type(a) ~= "table" or type(b) ~= "table" then
    return true, a, b, {}
  end
  local pairs_seen = seen[a]
  if pairs_seen and pairs_seen[b] then
    return nil
  end
  if not pairs_seen then
    pairs_seen = {}
    seen[a] = pairs_seen
  end
  pairs_seen[b] = true
  local keys = {}
  for k in next, a do
    keys[#keys + 1] = k
  end
  for k in next, b do
    if rawget(a, k) == nil then
      keys[#keys + 1] = k
    end
  end
  sort(keys, key_lt)
  for i = 1, #keys do
    local k = keys[i]
    local found, x, y, path = diff(rawget(a, k), rawget(b, k), seen)
    if found then
      path[#path + 1] = k
      return true, x, y, path
    end
  end
  return nil
end

--- deep_equal(a, b): true when a and b are equal, tables compared by content.
function M.deep_equal(a, b)
  return diff(a, b, {}) == nil
end

local function path_string(path)
  local parts = {}
  for i = #path, 1, -1 do
    parts[#parts + 1] = format_key(path[i])
  end
  return concat(parts)
end

-- ---- the helpers ---------------------------------------------------------------------------

--- eq(a, b): fails unless a == b; returns a.
function M.eq(a, b)
  if a == b then
    return a
  end
  fail_at(2, format("eq: values differ\n  left:  %s\n  right: %s", repr(a, 0, {}), repr(b, 0, {})))
end

--- same(a, b): fails unless a and b are deeply equal (tables compared key by
--- key, cycles allowed); the message names the path of the first difference.
function M.same(a, b)
  local found, x, y, path = diff(a, b, {})
  if not found then
    return a
  end
  if #path == 0 then
    fail_at(2, format("same: values differ\n  left:  %s\n  right: %s", repr(x, 0, {}), repr(y, 0, {})))
  end
  fail_at(2, format("same: values differ at %s\n  left:  %s\n  right: %s\n  (left is %s)",
    path_string(path), repr(x, 0, {}), repr(y, 0, {}), repr(a, 0, {})))
end

local function pack_rest(ok, ...)
  return ok, select("#", ...), ...
end

--- match(s, pattern): fails unless string s matches the Lua pattern; returns
--- the captures (or the whole match).
function M.match(s, pattern)
  if type(pattern) ~= "string" then
    error("match: expected a pattern string as argument 2, got " .. type(pattern), 2)
  end
  if type(s) ~= "string" then
    fail_at(2, format("match: expected a string to match %s, got %s", repr_string(pattern), repr(s, 0, {})))
  end
  local ok, n, first = pack_rest(pcall(s.match, s, pattern))
  if not ok then
    error(format("match: bad pattern %s: %s", repr_string(pattern), tostring(first)), 2)
  end
  if first == nil then
    fail_at(2, format("match: %s does not match the pattern %s", repr_string(s), repr_string(pattern)))
  end
  if n == 1 then
    return first
  end
  return s:match(pattern)
end

--- contains(haystack, needle): for a string, fails unless needle is a plain
--- substring; for a table, fails unless some list element equals needle
--- (tables compared deeply). Returns true.
function M.contains(haystack, needle)
  local t = type(haystack)
  if t == "string" then
    if type(needle) ~= "string" and type(needle) ~= "number" then
      error("contains: expected a string needle for a string haystack, got " .. type(needle), 2)
    end
    if haystack:find(needle, 1, true) then
      return true
    end
    fail_at(2, format("contains: %s does not contain %s", repr_string(haystack), repr(needle, 0, {})))
  elseif t == "table" then
    for i = 1, #haystack do
      local v = haystack[i]
      if v == needle or diff(v, needle, {}) == nil then
        return true
      end
    end
    fail_at(2, format("contains: %s does not contain %s", repr(haystack, 0, {}), repr(needle, 0, {})))
  end
  error("contains: expected a string or a table as argument 1, got " .. t, 2)
end

local function error_text(e)
  if type(e) == "string" then
    return e
  end
  local ok, s = pcall(tostring, e)
  if type(e) == "table" and (not ok or s:find("^table: ")) and type(rawget(e, "message")) == "string" then
    return e.message
  end
  return ok and s or "<" .. type(e) .. ">"
end
M.error_text = error_text

-- Whether err is an instance of the error class cls (a table whose
-- instances have it, or a subclass of it, as metatable; subclasses name
-- their parent in _parent, as the client's errors do).
local function is_instance(err, cls)
  local mt = type(err) == "table" and getmetatable(err)
  while mt do
    if mt == cls then
      return true
    end
    mt = type(mt) == "table" and rawget(mt, "_parent")
  end
  return false
end

local function class_name(cls)
  return tostring(rawget(cls, "__name") or cls)
end

--- raises(fn, pattern | class): fails unless fn() raises an error; with a
--- pattern, the error's text must contain it (as plain text or as a Lua
--- pattern); with an error class (luatest.client.errors.ServerTimeoutError),
--- the error must be one of it or of a subclass. Returns the error value.
function M.raises(fn, pattern)
  local tf = type(fn)
  if tf ~= "function" and not (getmetatable(fn) and getmetatable(fn).__call) then
    error("raises: expected a function as argument 1, got " .. tf, 2)
  end
  if pattern ~= nil and type(pattern) ~= "string" and type(pattern) ~= "table" then
    error("raises: expected a pattern string or an error class as argument 2, got " .. type(pattern), 2)
  end
  local ok, err = yield_safe_pcall(fn) -- (fn may wait)
  if ok then
    fail_at(2, "raises: the function did not raise an error")
  end
  if type(pattern) == "table" then
    if not is_instance(err, pattern) then
      local got = type(err) == "table" and getmetatable(err) and rawget(getmetatable(err), "__name")
      fail_at(2, format("raises: expected a %s, got %s: %s", class_name(pattern), got and tostring(got) or type(err),
        repr_string(error_text(err))))
    end
  elseif pattern then
    local text = error_text(err)
    if not text:find(pattern, 1, true) then
      local pok, found = pcall(string.find, text, pattern)
      if not (pok and found) then
        fail_at(2, format("raises: the error %s does not match %s", repr_string(text), repr_string(pattern)))
      end
    end
  end
  return err
end

--- near(a, b, tol): fails unless |a - b| <= tol (default 1e-9). Returns true.
function M.near(a, b, tol)
  tol = tol or 1e-9
  if type(a) ~= "number" or type(b) ~= "number" or type(tol) ~= "number" then
    error(format("near: expected numbers, got %s, %s, %s", type(a), type(b), type(tol)), 2)
  end
  local d = a - b
  if d < 0 then
    d = -d
  end
  if d <= tol then
    return true
  end
  fail_at(2, format("near: values differ by %s, more than the tolerance %s\n  left:  %s\n  right: %s",
    repr_number(d), repr_number(tol), repr_number(a), repr_number(b)))
end

-- ---- skipping -------------------------------------------------------------------------------

local Skip = {}
Skip.__name = "luatest.Skip"
Skip.__tostring = function(self)
  return "skipped: " .. self.reason
end
M.Skip = Skip

--- skip(reason): stops the running test and reports it as skipped.
function M.skip(reason)
  error(setmetatable({ luatest_skip = true, reason = reason == nil and "" or tostring(reason) }, Skip), 0)
end

--- True when `e` is the error value raised by skip().
function M.is_skip(e)
  return getmetatable(e) == Skip
end

return M
