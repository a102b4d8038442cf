--- luatest.runner.marks: the options of a test or a describe block (marks,
--- skip, skipif, xfail, timeout), checked where they are given; what they
--- add up to for one test (marks add up from the outermost block in, the
--- nearest skip, skipif, xfail and timeout win); skipif conditions, called
--- at collection; and the -m expressions over mark names.
local compat = require "luatest.compat"

local type, error, format, pairs, tostring, pcall = type, error, string.format, pairs, tostring, compat.pcall

local M = {}

local KNOWN = { marks = true, skip = true, skipif = true, xfail = true, timeout = true }
local KNOWN_TEXT = "marks, skip, skipif, xfail, timeout"

--- check_seconds(call, s, level): raises (at `level`) unless s is a time
--- limit in seconds (0 = none).
function M.check_seconds(call, s, level)
  if type(s) ~= "number" or s ~= s or s < 0 or s == math.huge then
    error(format("%s: expected a number of seconds >= 0 (0 = no limit), got %s", call,
      type(s) == "number" and tostring(s) or type(s)), level + 1)
  end
end

-- A mark name is one word of a -m expression.
local function check_mark(call, m, level)
  if type(m) ~= "string" or not m:find("^[^%s()]+$") or m == "and" or m == "or" or m == "not" then
    error(format("%s: marks: expected mark names (words without spaces or parentheses, not and/or/not), got %s",
      call, type(m) == "string" and format("'%s'", m) or type(m)), level + 1)
  end
end

--- check(call, opts, level): the options table of `call` (it, describe,
--- luatest.test) in a checked form: { marks = {list} or nil, skip =
--- reason or false, skipif = {cond =, reason =} or false, xfail = {reason
--- =, strict =} or false, timeout = s }, each nil when not given. Raises at
--- `level` naming the call and the option.
function M.check(call, opts, level)
  level = level + 1
  if opts == nil then
    return nil
  end
  if type(opts) ~= "table" then
    error(format("%s: expected an options table, got %s", call, type(opts)), level)
  end
  for k in pairs(opts) do
    if not KNOWN[k] then
      error(format("%s: unknown option '%s' (known: %s)", call, tostring(k), KNOWN_TEXT), level)
    end
  end
  local o = {}
  local marks = opts.marks
  if marks ~= nil then
    if type(marks) == "string" then
      marks = { marks }
    end
    if type(marks) ~= "table" then
      error(format("%s: marks: expected a list of mark names, got %s", call, type(marks)), level)
    end
    local list = {}
    for i = 1, #marks do
      check_mark(call, marks[i], level)
      list[i] = marks[i]
    end
    o.marks = list
  end
  local skip = opts.skip
  if skip ~= nil then
    if skip == true then
      o.skip = "unconditional skip"
    elseif skip == false or type(skip) == "string" then
      o.skip = skip
    else
      error(format("%s: skip: expected a reason string (or true, false), got %s", call, type(skip)), level)
    end
  end
  local skipif = opts.skipif
  if skipif ~= nil then
    local cond, reason = skipif, nil
    -- {cond, reason}, as pytest's skipif(cond, reason=...)
    if type(skipif) == "table" then
      cond, reason = skipif[1], skipif[2] or skipif.reason
      if reason ~= nil and type(reason) ~= "string" then
        error(format("%s: skipif: the reason must be a string, got %s", call, type(reason)), level)
      end
    end
    if type(cond) ~= "boolean" and type(cond) ~= "function" then
      error(format("%s: skipif: expected a boolean or a function (or {cond, reason}), got %s", call, type(cond)),
        level)
    end
    o.skipif = { cond = cond, reason = reason }
  end
  local xfail = opts.xfail
  if xfail ~= nil then
    if xfail == false then
      o.xfail = false
    elseif xfail == true then
      o.xfail = { reason = "", strict = false }
    elseif type(xfail) == "string" then
      o.xfail = { reason = xfail, strict = false }
    elseif type(xfail) == "table" then
      for k in pairs(xfail) do
        if k ~= "reason" and k ~= "strict" then
          error(format("%s: xfail: unknown key '%s' (known: reason, strict)", call, tostring(k)), level)
        end
      end
      if xfail.reason ~= nil and type(xfail.reason) ~= "string" then
        error(format("%s: xfail: reason must be a string, got %s", call, type(xfail.reason)), level)
      end
      if xfail.strict ~= nil and type(xfail.strict) ~= "boolean" then
        error(format("%s: xfail: strict must be true or false, got %s", call, type(xfail.strict)), level)
      end
      o.xfail = { reason = xfail.reason or "", strict = xfail.strict == true }
    else
      error(format("%s: xfail: expected a reason string, true or {reason =, strict =}, got %s", call, type(xfail)),
        level)
    end
  end
  if opts.timeout ~= nil then
    M.check_seconds(call, opts.timeout, level)
    o.timeout = opts.timeout
  end
  return o
end

--- resolve(layers): what the checked options of a test add up to, from a
--- list of them, outermost first (describe blocks, then the test's own,
--- then a wrapping luatest.test): { marks = {list, in order, once each},
--- markset = {name = true}, skip, skipif, xfail, timeout } with the
--- nearest of each of the last four.
function M.resolve(layers)
  local out = { marks = {}, markset = {} }
  for i = 1, #layers do
    local o = layers[i]
    if o then
      for _, m in ipairs(o.marks or {}) do
        if not out.markset[m] then
          out.markset[m] = true
          out.marks[#out.marks + 1] = m
        end
      end
      for _, k in ipairs { "skip", "skipif", "xfail", "timeout" } do
        if o[k] ~= nil then
          out[k] = o[k]
        end
      end
    end
  end
  return out
end

--- skip_reason(r, who): the reason a test with the resolved options r is
--- skipped at collection, or nil: its skip, else its skipif condition (a
--- function is called now; a string it returns is the reason). Raises,
--- naming `who`, when the condition raises.
function M.skip_reason(r, who)
  if type(r.skip) == "string" then
    return r.skip
  end
  local skipif = r.skipif
  if not skipif then
    return nil
  end
  local cond = skipif.cond
  if type(cond) == "function" then
    local ok, v = pcall(cond)
    if not ok then
      error(format("%s: its skipif condition raised: %s", who, require("luatest.assert").error_text(v)), 0)
    end
    if type(v) == "string" then
      return skipif.reason or v
    end
    cond = v
  end
  if cond then
    return skipif.reason or "skipif condition is true"
  end
  return nil
end

return M
