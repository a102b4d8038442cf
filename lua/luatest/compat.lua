-- What Lua 5.3 and 5.4 have and LuaJIT 2.1 lacks, for luatest's own modules
-- (the C side has src/lua/compat.h). Under LuaJIT every number is a double:
-- an integral one counts as an integer, exactly up to 2^53.
local M = {}

M.unpack = table.unpack or unpack

M.pack = table.pack or function(...)
  return { n = select("#", ...), ... }
end

M.move = table.move

function M.tointeger(x)
  if math.tointeger then
    return math.tointeger(x)
  end
  if type(x) == "number" and x == math.floor(x) and x >= -2 ^ 53 and x <= 2 ^ 53 then
    return x
  end
  return nil
end

function M.math_type(x)
  if math.type then
    return math.type(x)
  end
  if type(x) ~= "number" then
    return nil
  end
  return (x == math.floor(x) and x > -math.huge and x < math.huge) and "integer" or "float"
end

-- utf8.len(s, i): the code points in s from byte i, or nil and the
-- position of the first byte that is not valid UTF-8.
local function utf8_len(s, i)
  i = i or 1
  local n, len = 0, #s
  while i <= len do
    local c = s:byte(i)
    local need, lo, hi = 0, 0x80, 0xBF
    if c < 0x80 then
      need = 0
    elseif c >= 0xC2 and c <= 0xDF then
      need = 1
    elseif c == 0xE0 then
      need, lo = 2, 0xA0
    elseif c == 0xED then
      need, hi = 2, 0x9F
    elseif c >= 0xE1 and c <= 0xEF then
      need = 2
    elseif c == 0xF0 then
      need, lo = 3, 0x90
    elseif c == 0xF4 then
      need, hi = 3, 0x8F
    elseif c >= 0xF1 and c <= 0xF3 then
      need = 3
    else
      return nil, i
    end
    for k = 1, need do
      local b = s:byte(i + k)
      if not b or b < (k == 1 and lo or 0x80) or b > (k == 1 and hi or 0xBF) then
        return nil, i
      end
    end
    i = i + need + 1
    n = n + 1
  end
  return n
end
M.utf8_len = utf8 and utf8.len or utf8_len

return M
