--- luatest.json: JSON that round-trips. Decoding is jansson's (in C),
--- encoding luatest's own writer: integers stay integers (64-bit exact on
--- Lua 5.3+; under LuaJIT and 5.1 numbers are doubles, exact up to 2^53,
--- and a whole number is written as an integer), floats are written in the
--- shortest form that reads back the same, `/` is not escaped, strings
--- must be UTF-8. Arrays: a table that is a sequence 1..n is one; any other
--- is an object, so `{}` is `{}` unless marked with `json.array`; decoded
--- arrays are marked and re-encode as arrays, `[]` too.
local core = require "luatest.core"

local setmetatable, getmetatable, type, error = setmetatable, getmetatable, type, error
local ARRAY = core.json_array_mt

local json = {
  --- null: the light userdata NULL, the same value as cjson.null.
  null = core.json_null,
  --- encode(value, {sort_keys = bool, indent = n}) -> string
  encode = core.json_encode,
  --- decode(string) -> value; raises "json.decode: <why> (line, column)"
  decode = core.json_decode,
}

--- array(t) marks t (or a new table) as a JSON array and returns it.
function json.array(t)
  if t == nil then
    t = {}
  elseif type(t) ~= "table" then
    error("json.array: expected a table, got " .. type(t), 2)
  end
  return setmetatable(t, ARRAY)
end

--- is_array(t): whether t is marked as an array (decoded arrays are).
function json.is_array(t)
  return type(t) == "table" and getmetatable(t) == ARRAY
end

return json
