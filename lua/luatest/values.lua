--- luatest.values: what the report of a failed plain `assert` shows under
--- the source line: the values of the variables the line names and of the
--- fields it reads from them. Loaded only when a test fails.
local assertions = require "luatest.assert"

local type, pairs, pcall, tonumber = type, pairs, pcall, tonumber
local tointeger = require("luatest.compat").tointeger
local getlocal, getupvalue = debug.getlocal, debug.getupvalue
local repr = assertions.repr

local M = {}

local MAX_VALUE = 200 -- characters of a value shown

local KEYWORDS = {}
for w in ([[and break do else elseif end false for function goto if in local nil not or repeat return then
  true until while]]):gmatch("%a+") do
  KEYWORDS[w] = true
end

-- The expressions a source line names, in order: variables and field
-- accesses on them (`resp.status`, `t[1]`, `h["Content-Type"]`), as
-- { text =, root =, keys = }. Strings and comments are skipped; the last
-- key of a call (`t.f(x)`) names a function and is left out.
local function expressions(line)
  local out, seen = {}, {}
  local i, n = 1, #line
  while i <= n do
    local c = line:byte(i)
    if c == 34 or c == 39 then -- a quoted string
      local j = i + 1
      while j <= n do
        local d = line:byte(j)
        if d == 92 then
          j = j + 2
        elseif d == c then
          break
        else
          j = j + 1
        end
      end
      i = j + 1
    elseif c == 45 and line:byte(i + 1) == 45 then -- a comment
      break
    elseif line:find("^[%a_]", i) then
      local s, e = line:find("^[%a_][%w_]*", i)
      local name = line:sub(s, e)
      local prev = line:sub(1, s - 1):match("(%S)%s*$")
      local j = e + 1
      if not KEYWORDS[name] and prev ~= "." and prev ~= ":" then
        local keys, ends = {}, {}
        while true do
          local fs, fe, key = line:find("^%.([%a_][%w_]*)", j)
          if not fs then
            fs, fe, key = line:find("^%[%s*(%d+)%s*%]", j)
            if fs then
              key = tointeger(tonumber(key))
            else
              fs, fe, key = line:find('^%[%s*"([^"\\]*)"%s*%]', j)
              if not fs then
                fs, fe, key = line:find("^%[%s*'([^'\\]*)'%s*%]", j)
              end
            end
          end
          if not fs or key == nil then
            break
          end
          keys[#keys + 1] = key
          ends[#ends + 1] = fe
          j = fe + 1
        end
        local after = line:match("^%s*(.)", j)
        if #keys > 0 and (after == "(" or after == "{" or after == '"' or after == "'") then
          keys[#keys] = nil
          ends[#ends] = nil
        end
        local text = line:sub(s, ends[#ends] or e)
        if not seen[text] then
          seen[text] = true
          out[#out + 1] = { text = text, root = name, keys = keys }
        end
      end
      i = j
    else
      i = i + 1
    end
  end
  return out
end

local function index(t, k)
  return t[k]
end

-- The value of `root.keys...`, or nil and false when it cannot be read.
local function follow(v, keys)
  for i = 1, #keys do
    local tv = type(v)
    if tv ~= "table" and tv ~= "userdata" then
      return nil, false
    end
    local ok, x = pcall(index, v, keys[i])
    if not ok then
      return nil, false
    end
    v = x
  end
  return v, true
end

--- named(level, func, line[, thread]): the values of the locals and
--- upvalues that a source line names, and of the fields read from them
--- (`resp.status = 500`), as a list of "name = value" strings, or nil.
--- `level` is the stack level of the frame running the line (as seen by
--- the caller of named, or in `thread`), `func` its function. Functions
--- and modules are left out.
function M.named(level, func, line, thread)
  if not thread then
    level = level + 1
  end
  local exprs = expressions(line)
  if #exprs == 0 then
    return nil
  end
  local wanted = {}
  for _, x in ipairs(exprs) do
    wanted[x.root] = true
  end
  local values, found = {}, {}
  for i = 1, 250 do
    local name, value
    if thread then
      name, value = getlocal(thread, level, i)
    else
      name, value = getlocal(level, i)
    end
    if not name then
      break
    end
    if wanted[name] then
      values[name], found[name] = value, true
    end
  end
  if func then
    for i = 1, 250 do
      local name, value = getupvalue(func, i)
      if not name then
        break
      end
      if wanted[name] and not found[name] then
        values[name], found[name] = value, true
      end
    end
  end
  local modules = {}
  for _, mod in pairs(package.loaded) do
    modules[mod] = true
  end
  local out, shown = {}, {}
  for _, x in ipairs(exprs) do
    if found[x.root] then
      local text, v, ok = x.text, follow(values[x.root], x.keys)
      if not ok then
        text, v = x.root, values[x.root]
      end
      if not shown[text] and type(v) ~= "function" and not modules[v] then
        shown[text] = true
        local s = repr(v)
        if #s > MAX_VALUE then
          s = s:sub(1, MAX_VALUE - 3) .. "..."
        end
        out[#out + 1] = text .. " = " .. s
      end
    end
  end
  return #out > 0 and out or nil
end


return M
