--- luatest.fixtures: the fixture registry, scopes ("function", "file",
--- "session"), injection by parameter name, teardown in reverse order of
--- setup, and the built-in fixtures of pytest-aiohttp (loop, aiohttp_client,
--- aiohttp_server, aiohttp_raw_server, aiohttp_unused_port).
local core = require "luatest.core"

local type, error, format, pairs, next, setmetatable, getmetatable =
  type, error, string.format, pairs, next, setmetatable, getmetatable
local compat = require "luatest.compat"
local unpack, concat, sort = compat.unpack, table.concat, table.sort
local pcall, xpcall = compat.pcall, compat.xpcall -- (teardowns wait, under 5.1 too)
local getinfo = debug.getinfo

local M = {}

local RANK = { ["function"] = 1, file = 2, session = 3 }
local SCOPE_NAME = { "function", "file", "session" }
local EMPTY = setmetatable({}, { __newindex = function() error("fixtures: EMPTY is read-only", 2) end })
local NIL = setmetatable({}, { __name = "luatest.nil" }) -- a cached nil value

--- Fixtures defined while no spec file loads (at run time): visible to
--- every file. name -> definition.
M.global = {}
--- The built-in fixtures. name -> definition.
M.builtin = {}
--- While the runner loads a spec file or a conftest.lua: { source =
--- "@path", layer = {} }; fixtures defined by its code, or by what it
--- calls while it loads, go to its layer.
M.loading = nil
--- While a module that a loading file required loads: the table (name ->
--- definition) of the fixtures it defines; the runner grants them to each
--- file that requires the module (runner/collect.lua).
M.requiring = nil
--- Objects (servers, clients, tasks) opened by file- or session-scoped fixtures:
--- the per-test leak check leaves them alone.
M.allowed = setmetatable({}, { __mode = "k" })

local is_callable = require("luatest.assert").is_callable

--- define(name, fn, opts, level): registers a fixture; `level` is the stack
--- level of the code that defined it (it decides file-local or global).
function M.define(name, fn, opts, level)
  if type(name) ~= "string" or name == "" then
    error("fixture: expected a name string as argument 1, got " .. type(name), level)
  end
  if not is_callable(fn) then
    error(format("fixture '%s': expected a function as argument 2, got %s", name, type(fn)), level)
  end
  if opts ~= nil and type(opts) ~= "table" then
    error(format("fixture '%s': options must be a table, got %s", name, type(opts)), level)
  end
  local scope = opts and opts.scope or "function"
  if not RANK[scope] then
    error(format("fixture '%s': scope must be \"function\", \"file\" or \"session\", got %s", name, tostring(scope)),
      level)
  end
  local ar = getinfo(level, "Sl")
  local def = {
    name = name,
    fn = fn,
    scope = scope,
    rank = RANK[scope],
    where = ar and ar.currentline > 0 and (ar.short_src .. ":" .. ar.currentline) or "?",
  }
  if opts and opts.params ~= nil then
    def.params, def.param_ids = require("luatest.runner.params").fixture_params(name, opts.params, opts.ids, level)
  else
    for _, p in ipairs(M.params(fn)) do
      if p == "param" then
        error(format("fixture '%s': its parameter 'param' receives each of opts.params, and it has none", name), level)
      end
    end
  end
  -- A shared module's fixtures belong to the files that require it, not
  -- to every file loaded after it (which would depend on load order).
  local loading = M.loading
  if loading and ar and ar.source == loading.source then
    loading.layer[name] = def
  elseif M.requiring then
    M.requiring[name] = def
  elseif loading then
    loading.layer[name] = def
  else
    M.global[name] = def
  end
  return def
end

-- ---- parameters -------------------------------------------------------------------------

local params_cache = setmetatable({}, { __mode = "k" })

--- params(fn): the list of fn's parameter names (cached per function).
function M.params(fn)
  local p = params_cache[fn]
  if p then
    return p
  end
  if type(fn) ~= "function" then
    p = EMPTY
  else
    p = compat.params(fn)
    if #p == 0 then
      p = EMPTY
    end
  end
  params_cache[fn] = p
  return p
end

-- ---- scopes -------------------------------------------------------------------------------

--- new_scope(kind): a cache of fixture values with its teardown stack and
--- the objects its fixtures opened.
function M.new_scope(kind)
  return { kind = kind, values = {}, teardowns = {}, objects = {} }
end

--- new_context(file_scope, session_scope, layer): the fixture context of
--- one test; its function scope is made on first use.
function M.new_context(file_scope, session_scope, layer)
  return { file = file_scope, session = session_scope, layer = layer, func = nil, resolving = nil }
end

local function scope_of(ctx, rank)
  if rank == 1 then
    local s = ctx.func
    if not s then
      s = M.new_scope("function")
      ctx.func = s
    end
    return s
  elseif rank == 2 then
    return ctx.file
  end
  return ctx.session
end

local function lookup(layer, name)
  return (layer and layer[name]) or M.global[name] or M.builtin[name]
end
--- lookup(layer, name): the definition of the fixture `name` a file with
--- that layer sees, or nil.
M.lookup = lookup

--- available(layer): the sorted names of the fixtures a file can use
--- (its layer's own, then those it inherits through the layer's __index
--- tables: conftest.lua files and required modules).
function M.available(layer)
  local seen, names, tables = {}, {}, {}
  while type(layer) == "table" do
    tables[#tables + 1] = layer
    local mt = getmetatable(layer)
    layer = mt and mt.__index
  end
  tables[#tables + 1] = M.global
  tables[#tables + 1] = M.builtin
  for _, t in ipairs(tables) do
    for name in pairs(t) do
      if not seen[name] and name:sub(1, 1) ~= "_" then
        seen[name] = true
        names[#names + 1] = name
      end
    end
  end
  sort(names)
  return names
end

local function open_set()
  local set = {}
  for _, entry in ipairs(core.open_objects()) do
    set[entry[1]] = true
  end
  return set
end

local resolve

-- The index in def.params of the value the test of ctx runs with.
local function param_index(ctx, def)
  local j = ctx.fparams and ctx.fparams[def]
  if not j then
    error(format("fixture '%s' has params, and this test was not collected with one of them", def.name), 0)
  end
  return j
end

--- args(fn, ctx, rank, who, owner): the fixture values for fn's parameters, as a
--- list and its length. `rank` is the scope of the requester (a fixture may
--- use only fixtures of the same or a wider scope); `who` names it in errors;
--- `owner`, the fixture whose function fn is: with params, its parameter
--- `param` is the value of the test's param.
function M.args(fn, ctx, rank, who, owner)
  local p = M.params(fn)
  local n = #p
  if n == 0 then
    return EMPTY, 0
  end
  local args = {}
  for i = 1, n do
    if owner and owner.params and p[i] == "param" then
      args[i] = owner.params[param_index(ctx, owner)]
    else
      args[i] = resolve(ctx, p[i], rank, who)
    end
  end
  return args, n
end

-- "fixture 'name'", made once per name (every test resolves its fixtures).
local requester_of = {}

function resolve(ctx, name, rank, who)
  -- A parametrized name is the row's value, for fixtures that ask too.
  local call_args = ctx.args
  if call_args and call_args.set[name] then
    return call_args.values[name]
  end
  local def = lookup(ctx.layer, name)
  if not def then
    error(format("unknown fixture '%s' requested by %s; available fixtures: %s\n(a file can use the fixtures "
      .. "it defines, those of the modules it requires, those of each conftest.lua from the root path down to "
      .. "its directory, and the built-in ones)", name, who, concat(M.available(ctx.layer), ", ")), 0)
  end
  if def.rank < rank then
    error(format("fixture '%s' has %s scope and cannot be used by %s, which has %s scope", name,
      def.scope, who, SCOPE_NAME[rank]), 0)
  end
  local scope = scope_of(ctx, def.rank)
  -- A fixture with params has a value per param (wider scopes keep each).
  local key = def
  if def.params then
    local j = param_index(ctx, def)
    def.keys = def.keys or {}
    key = def.keys[j] or {}
    def.keys[j] = key
  end
  local v = scope.values[key]
  if v ~= nil then
    if v == NIL then
      return nil
    end
    return v
  end
  local resolving = ctx.resolving
  if not resolving then
    resolving = {}
    ctx.resolving = resolving
  end
  if resolving[def] then
    error(format("fixture '%s' depends on itself (requested by %s)", name, who), 0)
  end
  resolving[def] = true
  local requester = requester_of[name]
  if not requester then
    requester = "fixture '" .. name .. "'"
    requester_of[name] = requester
  end
  local args, n = M.args(def.fn, ctx, def.rank, requester, def)
  local value, teardown
  if def.rank == 1 then
    value, teardown = def.fn(unpack(args, 1, n))
  else
    -- Objects (servers, clients, tasks) this fixture opens belong to its
    -- scope, not to the test that happened to need it first.
    local before = open_set()
    value, teardown = def.fn(unpack(args, 1, n))
    for _, entry in ipairs(core.open_objects()) do
      local obj = entry[1]
      if not before[obj] then
        M.allowed[obj] = true
        scope.objects[#scope.objects + 1] = obj
      end
    end
  end
  resolving[def] = nil
  if teardown ~= nil then
    if not is_callable(teardown) then
      error(format("fixture '%s' returned a teardown that is not a function (%s)", name, type(teardown)), 0)
    end
    local list = scope.teardowns
    list[#list + 1] = { fn = teardown, name = name }
  end
  if value == nil then
    scope.values[key] = NIL
  else
    scope.values[key] = value
  end
  return value
end

--- teardown(scope, handler, report, arg): runs the scope's teardowns, last
--- set up first, each under xpcall(fn, handler); report(info, fixture_name,
--- arg) is called for each one that fails. The scope's values are forgotten.
function M.teardown(scope, handler, report, arg)
  local list = scope.teardowns
  for i = #list, 1, -1 do
    local entry = list[i]
    list[i] = nil
    local ok, info = xpcall(entry.fn, handler)
    if not ok then
      report(info, entry.name, arg)
    end
  end
  if next(scope.values) then
    scope.values = {}
  end
end

-- ---- built-in fixtures --------------------------------------------------------------------

--- builtin(name, fn): a fixture every test can use (plugins such as
--- luatest.pytest_plugin define them), function-scoped.
function M.builtin_fixture(name, fn)
  M.builtin[name] = { name = name, fn = fn, scope = "function", rank = 1, where = "luatest built-in" }
end

return M
