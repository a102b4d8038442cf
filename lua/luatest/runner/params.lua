--- luatest.runner.params: parametrized tests. The rows of a parametrize
--- and their ids (pytest's: each value as text, repeated ids made unique),
--- the params of fixtures, and the expansion of a collected test into one
--- test per combination: parametrize rows (stacked ones give the product,
--- inner ids first), then the params of every fixture it uses, directly or
--- through other fixtures or its hooks.
local type, error, format, tostring, pairs, pcall = type, error, string.format, tostring, pairs, pcall
local concat = table.concat

local M = {}

-- ---- ids ------------------------------------------------------------------------------------

--- value_id(v, argname, idx): the id of one value, as pytest makes it:
--- strings as they are, numbers with tostring, booleans true/false,
--- anything else (nil, tables, functions) argname..idx (idx from 0).
function M.value_id(v, argname, idx)
  local t = type(v)
  if t == "string" then
    return v
  elseif t == "number" or t == "boolean" then
    return tostring(v)
  end
  return argname .. idx
end

--- unique(ids): the list of ids with each repeated one made unique as
--- pytest does: a counter from 0 appended (after "_" when the id ends in
--- a digit), skipping ids already taken.
function M.unique(ids)
  local count, current = {}, {}
  for _, id in ipairs(ids) do
    count[id] = (count[id] or 0) + 1
    current[id] = (current[id] or 0) + 1
  end
  local out, next_suffix = {}, {}
  for i, id in ipairs(ids) do
    if count[id] > 1 then
      local sep = id:find("%d$") and "_" or ""
      local n = next_suffix[id] or 0
      local new = id .. sep .. n
      while (current[new] or 0) > 0 do
        n = n + 1
        new = id .. sep .. n
      end
      current[id] = current[id] - 1
      current[new] = (current[new] or 0) + 1
      next_suffix[id] = n + 1
      out[i] = new
    else
      out[i] = id
    end
  end
  return out
end

-- The id that opts.ids gives the value(s) of row i, or nil.
local function given_id(call, ids, i, values, names)
  if type(ids) == "table" then
    local v = ids[i]
    if v == nil then
      return nil
    end
    local t = type(v)
    if t ~= "string" and t ~= "number" and t ~= "boolean" then
      error(format("%s: ids[%d] must be a string, got %s", call, i, t), 0)
    end
    return tostring(v)
  end
  -- a function of each value, as pytest's ids callable; nil falls back
  local parts = {}
  for k = 1, #names do
    local v = ids(values[k])
    if v == nil then
      v = M.value_id(values[k], names[k], i - 1)
    elseif type(v) ~= "string" and type(v) ~= "number" and type(v) ~= "boolean" then
      error(format("%s: the ids function returned %s for row %d, expected a string", call, type(v), i), 0)
    end
    parts[k] = tostring(v)
  end
  return concat(parts, "-")
end

-- The ids of rows (lists of values) under names.
local function row_ids(call, names, rows, ids)
  local out = {}
  for i, values in ipairs(rows) do
    local id = ids ~= nil and given_id(call, ids, i, values, names) or nil
    if not id then
      local parts = {}
      for k = 1, #names do
        parts[k] = M.value_id(values[k], names[k], i - 1)
      end
      id = concat(parts, "-")
    end
    out[i] = id
  end
  return M.unique(out)
end

local function check_ids(call, ids, n, level)
  if ids == nil then
    return
  end
  if type(ids) == "table" then
    if #ids > n then
      error(format("%s: %d ids for %d rows", call, #ids, n), level + 1)
    end
  elseif type(ids) ~= "function" then
    error(format("%s: ids must be a list or a function, got %s", call, type(ids)), level + 1)
  end
end

-- ---- parametrize ----------------------------------------------------------------------------

local function parse_names(names, level)
  local list = {}
  if type(names) == "string" then
    for name in names:gmatch("[^,]+") do
      list[#list + 1] = name:match("^%s*(.-)%s*$")
    end
  elseif type(names) == "table" then
    for i = 1, #names do
      list[i] = names[i]
    end
  else
    error("parametrize: expected the parameter names (\"code, text\" or a list) as argument 1, got " .. type(names),
      level + 1)
  end
  if #list == 0 then
    error("parametrize: no parameter names given", level + 1)
  end
  local seen = {}
  for _, name in ipairs(list) do
    if type(name) ~= "string" or not name:find("^[%a_][%w_]*$") then
      error(format("parametrize: '%s' is not a parameter name", tostring(name)), level + 1)
    end
    if seen[name] then
      error(format("parametrize: the name '%s' is given twice", name), level + 1)
    end
    seen[name] = true
  end
  return list
end

--- spec(names, rows, fn, opts, ar, level): what luatest.parametrize
--- records: { kind = "parametrize", names = {...}, rows = {{values}...},
--- ids = {one per row}, empty = (no rows: one skipped test), where }.
--- Raises at `level` naming what is wrong.
function M.spec(names, rows, fn, opts, ar, level)
  level = level + 1
  local list = parse_names(names, level)
  if type(rows) ~= "table" then
    error("parametrize: expected a list of rows as argument 2, got " .. type(rows), level)
  end
  if type(fn) ~= "function" then
    error("parametrize: expected a function as argument 3, got " .. type(fn), level)
  end
  if opts ~= nil and type(opts) ~= "table" then
    error("parametrize: expected an options table as argument 4, got " .. type(opts), level)
  end
  for k in pairs(opts or {}) do
    if k ~= "ids" then
      error(format("parametrize: unknown option '%s' (known: ids)", tostring(k)), level)
    end
  end
  local ids = opts and opts.ids
  local values = {}
  for i = 1, #rows do
    local row = rows[i]
    if #list == 1 then
      values[i] = { row }
    else
      if type(row) ~= "table" then
        error(format("parametrize: row %d is a %s, expected a list of %d values (%s)", i, type(row), #list,
          concat(list, ", ")), level)
      end
      if #row > #list then
        error(format("parametrize: row %d has %d values, expected %d (%s)", i, #row, #list, concat(list, ", ")),
          level)
      end
      local v = {}
      for k = 1, #list do
        v[k] = row[k]
      end
      values[i] = v
    end
  end
  check_ids("parametrize", ids, #values, level)
  local where = ar and ar.currentline and ar.currentline > 0 and (ar.short_src .. ":" .. ar.currentline) or "?"
  local spec = { kind = "parametrize", names = list, where = where }
  if #values == 0 then
    -- As pytest: one test, skipped, whose id names each parameter.
    local parts = {}
    for k, name in ipairs(list) do
      parts[k] = name .. "0"
    end
    spec.rows, spec.ids, spec.empty = { {} }, { concat(parts, "-") }, true
  else
    spec.rows, spec.ids = values, row_ids("parametrize", list, values, ids)
  end
  return spec
end

--- fixture_params(name, params, ids, level): a fixture's params checked,
--- and their ids (a value's default id is name..index, as pytest's).
function M.fixture_params(name, params, ids, level)
  local call = format("fixture '%s'", name)
  if type(params) ~= "table" or #params == 0 then
    error(format("%s: params must be a non-empty list, got %s", call, type(params) == "table" and "an empty one"
      or type(params)), level + 1)
  end
  local list, rows = {}, {}
  for i = 1, #params do
    list[i] = params[i]
    rows[i] = { params[i] }
  end
  check_ids(call, ids, #list, level)
  local ok, out = pcall(row_ids, call, { name }, rows, ids)
  if not ok then
    error(out, level + 1)
  end
  return list, out
end

-- ---- expansion at collection ------------------------------------------------------------------

--- unwrap(fn, decorated): the function under what parametrize and test
--- wrapped around fn, the parametrize specs (innermost first) and the
--- options of luatest.test (outermost first).
function M.unwrap(fn, decorated)
  local specs, opts, outer = {}, {}, {}
  local spec = decorated[fn]
  while spec do
    if spec.kind == "parametrize" then
      outer[#outer + 1] = spec
    else
      opts[#opts + 1] = spec.opts
    end
    fn = spec.inner
    spec = decorated[fn]
  end
  for i = #outer, 1, -1 do
    specs[#specs + 1] = outer[i]
  end
  return fn, specs, opts
end

--- combos(specs, who): the rows of stacked parametrize specs (innermost
--- first), as a list of { values = {name = value}, set = {name = true},
--- ids = {...}, empty = bool }; the innermost's rows vary slowest.
function M.combos(specs, who)
  local out = { { values = {}, set = {}, ids = {} } }
  for _, spec in ipairs(specs) do
    local nxt = {}
    for _, c in ipairs(out) do
      for r, row in ipairs(spec.rows) do
        local n = { values = {}, set = {}, ids = {}, empty = c.empty or spec.empty }
        for k, v in pairs(c.values) do
          n.values[k] = v
        end
        for k in pairs(c.set) do
          n.set[k] = true
        end
        for i, id in ipairs(c.ids) do
          n.ids[i] = id
        end
        for k, name in ipairs(spec.names) do
          if c.set[name] then
            error(format("%s: the parameter '%s' is parametrized twice", who, name), 0)
          end
          n.set[name] = true
          n.values[name] = row[k]
        end
        n.ids[#n.ids + 1] = spec.ids[r]
        nxt[#nxt + 1] = n
      end
    end
    out = nxt
  end
  return out
end

--- closure(fns, args, lookup, who): the fixtures that functions fns
--- (the test and its hooks) use, directly or through other fixtures, in
--- the order first met; names in the set `args` (parametrized) are no
--- fixtures. Returns the list of definitions and the set of every name
--- requested.
function M.closure(fns, args, lookup)
  local defs, seen, requested = {}, {}, {}
  local params = require("luatest.fixtures").params
  local function visit(fn, skip_param)
    for _, name in ipairs(params(fn)) do
      if not (skip_param and name == "param") then
        requested[name] = true
        if not args[name] then
          local def = lookup(name)
          if def and not seen[def] then
            seen[def] = true
            defs[#defs + 1] = def
            visit(def.fn, def.params ~= nil)
          end
        end
      end
    end
  end
  for _, fn in ipairs(fns) do
    visit(fn, false)
  end
  return defs, requested
end

return M
