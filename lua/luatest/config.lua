--- luatest.config: the defaults of a run in .luatest.lua, in the current
--- directory: a Lua file that returns a table such as
---   return { paths = {"spec/"}, timeout = 5, jobs = 4, output = "tap" }
--- whose keys are the runner's long option names ("_" for "-"), plus
--- `paths` and `keywords` (or `k`: the -k patterns); flags take true or
--- false, lists a string or a list. Loaded only when the file exists; the
--- command line wins over it.
local assertions = require "luatest.assert"

local type, format, pairs, pcall, tostring, setmetatable = type, string.format, pairs, pcall, tostring, setmetatable
local concat = table.concat
local error_text, repr = assertions.error_text, assertions.repr

local M = {}

local function string_list(v)
  if type(v) == "string" then
    return { v }
  end
  if type(v) ~= "table" then
    return nil
  end
  local out = {}
  for i = 1, #v do
    if type(v[i]) ~= "string" then
      return nil
    end
    out[i] = v[i]
  end
  return out
end

--- load(path, options): the defaults in the file at `path` (a Lua file
--- returning a table keyed by option names), checked against the runner's
--- option specs (key, check, config = settable here), in the form the
--- command line gives them; or nil and a message.
function M.load(path, options)
  local by_key = {}
  for _, spec in ipairs(options) do
    by_key[spec.key] = spec
  end
  local chunk, err = require("luatest.compat").loadfile(path, "t", setmetatable({}, { __index = _G }))
  if not chunk then
    return nil, err
  end
  local ok, t = pcall(chunk)
  if not ok then
    local msg = error_text(t)
    if not msg:find(path, 1, true) then
      msg = path .. ": " .. msg
    end
    return nil, msg
  end
  if type(t) ~= "table" then
    return nil, format("%s: must return a table of options, returned %s", path, type(t))
  end
  local out = {}
  for k, v in pairs(t) do
    if k == "k" then
      if t.keywords ~= nil then
        return nil, format("%s: give either 'k' or 'keywords', not both", path)
      end
      k = "keywords"
    end
    local spec = by_key[k]
    if k == "paths" or k == "keywords" then
      local list = string_list(v)
      if not list then
        return nil, format("%s: '%s' must be a string or a list of strings, got %s", path, k, type(v))
      end
      -- (-k patterns are kept as written: upper-case AND is a word, as on
      -- the command line, not the operator.)
      out[k] = list
    elseif not spec or not spec.config then
      local known = { "paths" }
      for _, s in ipairs(options) do
        if s.config then
          known[#known + 1] = s.key
        end
      end
      return nil, format("%s: unknown option '%s' (known: %s)", path, tostring(k), concat(known, ", "))
    elseif spec.arg then
      local value, why = spec.check(v)
      if value == nil then
        return nil, format("%s: option '%s': %s, got %s", path, k, why, repr(v))
      end
      out[k] = value
    elseif type(v) ~= "boolean" then
      return nil, format("%s: option '%s' must be true or false, got %s", path, k, repr(v))
    elseif k == "verbose" or k == "quiet" then
      if v then
        out.verbosity = k == "verbose" and 1 or -1
      end
    else
      out[k] = v
    end
  end
  return out
end

return M
