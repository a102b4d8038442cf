--- luatest.runner.collect: loading the spec files, each in its own
--- environment, into the tree of their tests (global test_* functions,
--- describe/it blocks with their hooks, AioHTTPTestCase classes) in
--- definition order; and the selection and order of a run's plan (-k, --lf,
--- --shard, --shuffle).
local core = require "luatest.core"
local luatest = require "luatest"
local fixtures = require "luatest.fixtures"
local assertions = require "luatest.assert"
local compat = require "luatest.compat"
local failure = require "luatest.runner.failure"
local cli = require "luatest.runner.cli"
local marks = require "luatest.runner.marks"
local params = require "luatest.runner.params"

local type, error, format, pcall, xpcall, setmetatable, rawget, rawset, tostring, pairs, assert =
  type, error, string.format, compat.pcall, compat.xpcall, setmetatable, rawget, rawset, tostring, pairs, assert
local compiled = require "luatest.runner.compiled"
local getinfo, concat = debug.getinfo, table.concat
local funcinfo = core.funcinfo
local is_skip, error_text = assertions.is_skip, assertions.error_text
local load_handler = failure.load_handler

local rt = luatest._runtime

local M = {}

local function index(t, k)
  return t[k]
end

local Collector = {}
Collector.__index = Collector

function Collector:describe(name, fn, opts)
  local parent = self.block
  local block = {
    name = name,
    parent = parent,
    prefix = parent.prefix and (parent.prefix .. " > " .. name) or name,
    before = {},
    after = {},
    opts = opts,
  }
  self.block = block
  fn()
  self.block = parent
end

-- An entry of the file's test order for an it() block in the current
-- describe (a pending one has no body); `level` is its caller's, seen from
-- here.
local function it_entry(self, name, fn, level)
  local block = self.block
  local full = block.prefix and (block.prefix .. " > " .. name) or name
  local ar = getinfo(level, "l")
  local entry = {
    kind = "it",
    name = full,
    id = self.file.path .. "::" .. full,
    fn = fn,
    block = block,
    file = self.file,
    line = ar and ar.currentline or (fn and getinfo(fn, "S").linedefined) or 0,
  }
  local order = self.order
  order[#order + 1] = entry
  return entry
end

function Collector:it(name, fn, level, opts)
  it_entry(self, name, fn, level + 1).opts = opts
end

-- A pending test (busted's pending): a test without a body, skipped.
function Collector:pending(name, level)
  it_entry(self, name, nil, level + 1).pending = true
end

function Collector:set_timeout(seconds)
  self.file.timeout = seconds
end

function Collector:hook(kind, fn)
  local list = self.block[kind]
  list[#list + 1] = fn
end

-- AioHTTPTestCase classes: a global table whose `__luatest_case` field is
-- true (subclasses inherit it) is a test case class. Its tests are
-- `class:test_names()` (definition order; the base class has none); each
-- runs as `inst = class:_case_setup()` (fresh instance, app, server, started
-- client, setup()), `inst:test_x()`, `class._case_teardown(inst)`
-- (teardown(), client closed), all inside the test's task. The id of each
-- is `path::Global.test_x`.
local function collect_case(fstate, gname, class, items)
  if type(class.test_names) ~= "function" or type(class._case_setup) ~= "function"
    or type(class._case_teardown) ~= "function" then
    error(format("%s: a test case class (it has __luatest_case) must provide test_names, _case_setup and "
      .. "_case_teardown, as luatest.test_utils.AioHTTPTestCase does", gname), 0)
  end
  local names = class:test_names()
  if type(names) ~= "table" then
    error(format("%s:test_names() returned %s, not a list of method names", gname, type(names)), 0)
  end
  for _, method in ipairs(names) do
    local fn = class[method]
    local name = gname .. "." .. method
    items[#items + 1] = {
      kind = "case",
      name = name,
      id = fstate.path .. "::" .. name,
      case = class,
      method = method,
      file = fstate,
      line = type(fn) == "function" and getinfo(fn, "S").linedefined or 0,
    }
  end
end

-- ---- parameters and marks ----------------------------------------------------------------

-- The options of the describe blocks around `block`, outermost first.
local function block_opts(block, out)
  if block.parent then
    block_opts(block.parent, out)
  end
  if block.opts then
    out[#out + 1] = block.opts
  end
  return out
end

-- The hooks of the blocks around `block`, whose fixtures the test uses too.
local function hooks_of(block, out)
  while block do
    for _, list in ipairs { block.before, block.after } do
      for _, fn in ipairs(list) do
        out[#out + 1] = fn
      end
    end
    block = block.parent
  end
  return out
end

local function copy(item)
  local c = {}
  for k, v in pairs(item) do
    c[k] = v
  end
  return c
end

-- What a test with no options, marks or parametrize shares with every
-- other such test (read only): its marks, the resolved options, the one
-- combination of no parameters.
local NONE = {}
local NO_OPTIONS = { marks = NONE, markset = NONE }
local NO_COMBOS = { { values = NONE, set = NONE, ids = NONE } }
local NO_VARIANTS = { { combo = NO_COMBOS[1], ids = NONE, fparams = nil } }

local function has_block_opts(block)
  while block do
    if block.opts then
      return true
    end
    block = block.parent
  end
  return false
end

-- The fixtures with params that a test (its function base, the hooks of
-- its blocks) uses, directly or through other fixtures, found in layer.
local function param_defs(layer, item, base, argset)
  local fns = { base }
  if item.block then
    hooks_of(item.block, fns)
  end
  local all, requested = params.closure(fns, argset, function(name)
    return fixtures.lookup(layer, name)
  end)
  for name in pairs(argset) do
    if not requested[name] then
      error(format("%s: parametrize: neither the test nor a fixture it uses takes a parameter '%s'", item.name,
        name), 0)
    end
  end
  local defs = {}
  for _, def in ipairs(all) do
    if def.params then
      defs[#defs + 1] = def
    end
  end
  return defs
end

-- param_defs of a plain test outside any block, which depends only on the
-- names of its parameters: found once per file (its layer) and names.
local plain_cache = setmetatable({}, { __mode = "k" })

local function plain_defs(layer, base)
  local by_names = plain_cache[layer]
  if not by_names then
    by_names = {}
    plain_cache[layer] = by_names
  end
  local key = concat(fixtures.params(base), ",")
  local defs = by_names[key]
  if not defs then
    defs = param_defs(layer, NONE, base, NONE)
    by_names[key] = defs
  end
  return defs
end

-- The tests a collected item stands for: one per combination of its
-- parametrize rows and of the params of the fixtures it uses, each with
-- its marks, skip reason, xfail and timeout resolved.
local function expand(fstate, item, out)
  local fn = item.fn
  -- (Most tests have no options anywhere: they skip building and resolving
  -- the layers, which at collection cost as much as loading the file.)
  local plain = item.opts == nil and not item.pending and item.kind ~= "case" and rt.decorated[fn] == nil
    and not (item.block and has_block_opts(item.block))
  local layers
  if not plain then
    layers = item.block and block_opts(item.block, {}) or {}
    layers[#layers + 1] = item.opts
  end
  if item.pending then
    local r = marks.resolve(layers)
    item.marks, item.markset, item.skip_reason = r.marks, r.markset, "pending"
    out[#out + 1] = item
    return
  end
  if item.kind == "case" then
    fn = item.case[item.method]
    if type(fn) ~= "function" then
      local r = marks.resolve(layers)
      item.marks, item.markset = r.marks, r.markset
      out[#out + 1] = item
      return
    end
  end
  local base, specs, r = fn, NONE, NO_OPTIONS
  if not plain then
    local test_opts
    base, specs, test_opts = params.unwrap(fn, rt.decorated)
    for _, o in ipairs(test_opts) do
      layers[#layers + 1] = o
    end
    r = marks.resolve(layers)
  end
  local skip_reason = marks.skip_reason(r, item.name)
  local xfail = r.xfail or nil
  if item.kind ~= "case" or #specs > 0 then
    item.fn = base
  end
  -- (A global test_* function's line was taken from base already.)
  if item.kind ~= "it" and not (base == fn and item.kind == "function") then
    item.line = (funcinfo(base))
  end
  local combos = plain and NO_COMBOS or params.combos(specs, item.name)
  local argset = combos[1].set
  local defs = NONE
  if item.kind == "case" then
    -- (A plain method is called with self alone, whatever it declares.)
    local p = #specs > 0 and fixtures.params(base) or {}
    for i = 2, #p do
      if not argset[p[i]] then
        error(format("%s: its parameter '%s' is not parametrized (test case methods take no fixtures)", item.name,
          p[i]), 0)
      end
    end
    for name in pairs(argset) do
      local found = false
      for i = 2, #p do
        found = found or p[i] == name
      end
      if not found then
        error(format("%s: parametrize: the method takes no parameter '%s'", item.name, name), 0)
      end
    end
  elseif plain and not item.block then
    defs = plain_defs(fstate.layer, base)
  else
    defs = param_defs(fstate.layer, item, base, argset)
  end
  -- The fixtures' params vary fastest, after the parametrize rows.
  local variants = NO_VARIANTS
  if combos ~= NO_COMBOS or #defs > 0 then
    variants = {}
    for _, c in ipairs(combos) do
      variants[#variants + 1] = { combo = c, ids = c.ids, fparams = nil }
    end
  end
  for _, def in ipairs(defs) do
    local nxt = {}
    for _, v in ipairs(variants) do
      for j = 1, #def.params do
        local fp = {}
        for k, x in pairs(v.fparams or {}) do
          fp[k] = x
        end
        fp[def] = j
        local ids = {}
        for i, id in ipairs(v.ids) do
          ids[i] = id
        end
        ids[#ids + 1] = def.param_ids[j]
        nxt[#nxt + 1] = { combo = v.combo, ids = ids, fparams = fp }
      end
    end
    variants = nxt
  end
  local timeout = r.timeout
  for _, v in ipairs(variants) do
    local t = #variants == 1 and #v.ids == 0 and item or copy(item)
    if #v.ids > 0 then
      local suffix = "[" .. concat(v.ids, "-") .. "]"
      t.name, t.id = item.name .. suffix, item.id .. suffix
    end
    if #specs > 0 then
      t.call_args = v.combo
      if item.kind == "case" then
        local p, list = fixtures.params(base), { n = 0 }
        for i = 2, #p do
          list[i - 1] = v.combo.values[p[i]]
        end
        list.n = #p - 1
        t.case_args = list
      end
    end
    t.fparams = v.fparams
    t.marks, t.markset, t.xfail, t.timeout = r.marks, r.markset, xfail, timeout
    t.skip_reason = skip_reason
    if v.combo.empty and not skip_reason then
      local names = {}
      for _, spec in ipairs(specs) do
        if spec.empty then
          for _, n in ipairs(spec.names) do
            names[#names + 1] = "'" .. n .. "'"
          end
        end
      end
      t.skip_reason = format("got empty parameter set [%s], function %s at %s:%d", concat(names, ", "), item.name,
        fstate.path, item.line or 0)
    end
    out[#out + 1] = t
  end
end

local function finalize(fstate, env, order)
  local items = {}
  for _, e in ipairs(order) do
    if type(e) == "string" then
      local v = rawget(env, e)
      if type(v) == "function" then
        if e:sub(1, 5) == "test_" then
          items[#items + 1] = {
            kind = "function",
            name = e,
            id = fstate.path .. "::" .. e,
            fn = v,
            file = fstate,
            line = (funcinfo(v)),
          }
        end
      elseif type(v) == "table" then
        local ok, marker = pcall(index, v, "__luatest_case")
        if ok and marker then
          collect_case(fstate, e, v, items)
        end
      end
    else
      items[#items + 1] = e
    end
  end
  local out = {}
  for _, item in ipairs(items) do
    expand(fstate, item, out)
  end
  return out
end

-- ---- shared modules, package.path and conftest.lua ---------------------------------------

-- The fixtures each module defined while it first loaded, by module name
-- (with those of the modules it required), granted again to each file that
-- requires it later, from package.loaded.
local module_fixtures = {}
-- The tables the fixtures of the modules being required go to: the
-- innermost last; the first is the loading file's.
local grant_stack = {}

local real_require = require

local function grant(into, from)
  for name, def in pairs(from) do
    if rawget(into, name) == nil then
      rawset(into, name, def)
    end
  end
end

-- require as the files see it while they load.
local function tracked_require(name)
  local n = #grant_stack
  if n == 0 then
    return real_require(name)
  end
  local defined = module_fixtures[name]
  local outer = fixtures.requiring
  if defined == nil and package.loaded[name] == nil then
    defined = {}
    fixtures.requiring = defined
    grant_stack[n + 1] = defined
  end
  local ok, mod = pcall(real_require, name)
  grant_stack[n + 1] = nil
  fixtures.requiring = outer
  if not ok then
    error(mod, 0)
  end
  if defined ~= nil then
    module_fixtures[name] = defined
    grant(grant_stack[n], defined)
  end
  return mod
end

local function dirname(path)
  return path:match("^(.*)/[^/]*$") or "."
end

local function strip_slash(path)
  while #path > 1 and path:sub(-1) == "/" do
    path = path:sub(1, -2)
  end
  return path
end

local function join(dir, name)
  if dir == "." then
    return name
  end
  return dir .. "/" .. name
end

-- Runs fn(...) with the dirs first on package.path and `require` tracked
-- (the fixtures of what it requires go to `granted`); returns what
-- xpcall(fn, load_handler, ...) returns.
local function loading_with(dirs, granted, fn, ...)
  local saved_path, saved_require = package.path, _G.require
  local extra = {}
  for _, dir in ipairs(dirs) do
    extra[#extra + 1] = join(dir, "?.lua;") .. join(dir, "?/init.lua;")
  end
  local prefix = table.concat(extra)
  package.path = prefix .. saved_path
  _G.require = tracked_require
  local depth = #grant_stack
  grant_stack[depth + 1] = granted
  local ok, err = xpcall(fn, load_handler, ...)
  for i = #grant_stack, depth + 1, -1 do
    grant_stack[i] = nil
  end
  fixtures.requiring = nil
  _G.require = saved_require
  -- Only what was added goes: a file's own change to package.path stays,
  -- as it would in plain Lua.
  local now = package.path
  local i, j = now:find(prefix, 1, true)
  if i then
    package.path = now:sub(1, i - 1) .. now:sub(j + 1)
  end
  return ok, err
end

-- The environment a spec file or conftest.lua loads in; `order` gets the
-- names of the globals that may be tests, in definition order.
local function new_env(order)
  local seen = {}
  -- busted's names are globals of every spec file, as in busted.
  local env = setmetatable({
    describe = luatest.describe,
    it = luatest.it,
    before_each = luatest.before_each,
    after_each = luatest.after_each,
    pending = luatest.pending,
    require = tracked_require,
  }, {
    __index = _G,
    __newindex = function(t, k, v)
      rawset(t, k, v)
      if type(k) == "string" and not seen[k] then
        local tv = type(v)
        if tv == "table" or (tv == "function" and k:sub(1, 5) == "test_") then
          seen[k] = true
          order[#order + 1] = k
        end
      end
    end,
  })
  -- LuaJIT and 5.1 have no _ENV: a spec that names tests through it
  -- (_ENV["test_" .. name] = fn) finds its environment under that name.
  if _VERSION == "Lua 5.1" then
    rawset(env, "_ENV", env)
  end
  -- 5.1 cannot yield across the native pcall: the spec's own pcalls are
  -- ones its tests may wait in, as they may everywhere else.
  if compat.puc51 then
    rawset(env, "pcall", compat.pcall)
    rawset(env, "xpcall", compat.xpcall)
    rawset(env, "coroutine", setmetatable({ running = compat.running }, { __index = coroutine }))
  end
  return env
end

-- A fixture layer: own definitions first, then those granted by required
-- modules, then `parent` (the nearest conftest.lua's layer).
local function new_layer(parent)
  local granted = setmetatable({}, { __index = parent })
  return setmetatable({}, { __index = granted }), granted
end

-- conftest.lua files loaded in this process, by path: { layer =, block =
-- (the root of its hooks) } or { err = message }.
local conftests = {}

-- The conftest.lua files that apply to `path` below the root directory
-- `root`: their paths, outermost first.
local function conftest_paths(path, root)
  local dir = dirname(path)
  local rel
  if root == "." then
    rel = dir
  elseif dir == root then
    rel = "."
  elseif dir:sub(1, #root + 1) == root .. "/" then
    rel = dir:sub(#root + 2)
  else
    rel = "."
    root = dir
  end
  local out, cur = { join(root, "conftest.lua") }, root
  if rel ~= "." then
    for part in rel:gmatch("[^/]+") do
      cur = join(cur, part)
      out[#out + 1] = join(cur, "conftest.lua")
    end
  end
  return out
end

-- Runs the file at path (a conftest.lua or a spec file) in an environment
-- of its own, collecting into state (its layer gets the fixtures it
-- defines, granted those of the modules it requires), below the hooks of
-- the parent conftest's block. Returns true, or nil and the load error
-- (a skip() as it was raised); and its env, order and root block.
local function run_file(path, root, state, granted, parent)
  local order = {}
  local env = new_env(order)
  local chunk, err = compiled.loadfile(path, env)
  if not chunk then
    return nil, err
  end
  local block = { before = {}, after = {}, parent = parent and parent.block }
  rt.collector = setmetatable({ file = state, order = order, block = block }, Collector)
  fixtures.loading = { source = "@" .. path, layer = state.layer }
  local ok, lerr = loading_with({ root, dirname(path) }, granted, chunk)
  rt.collector = nil
  fixtures.loading = nil
  return ok or nil, lerr, env, order, block
end

local function load_conftest(path, root, parent)
  local c = conftests[path]
  if c then
    return c
  end
  local layer, granted = new_layer(parent and parent.layer)
  local cstate = { path = path, layer = layer }
  local ok, err, env, order, block = run_file(path, root, cstate, granted, parent)
  if not ok then
    c = { err = is_skip(err) and (path .. ": a conftest.lua cannot skip the files below it") or err }
  else
    local fok, items = pcall(finalize, cstate, env, order)
    if not fok then
      c = { err = path .. ": " .. error_text(items) }
    elseif #items > 0 then
      c = { err = format("%s: a conftest.lua defines fixtures and hooks, not tests (it defines %s)", path,
        items[1].name) }
    else
      c = { layer = layer, block = block }
    end
  end
  conftests[path] = c
  return c
end

--- root_of(path): the root directory of a path of a run: the path itself
--- for a directory, its directory for a file (no trailing slash).
function M.root_of(path)
  path = strip_slash(path)
  if core.stat(path) == "dir" then
    return path
  end
  return dirname(path)
end

--- load_spec(path, root): loads a spec file in its own environment, after
--- the conftest.lua files from the root directory `root` (default: the
--- file's directory) down to its own, and returns its state { path, root,
--- layer (fixtures), items (tests in definition order), skipped (reason,
--- when the file called skip) and skip_item (the entry that reports it),
--- timeout (set by luatest.timeout), hooks (the root block of its
--- conftest hooks, or nil) }, or nil and a message.
function M.load_spec(path, root)
  root = root and strip_slash(root) or dirname(path)
  local parent
  for _, cpath in ipairs(conftest_paths(path, root)) do
    if core.stat(cpath) == "file" then
      local c = load_conftest(cpath, root, parent)
      if c.err then
        return nil, c.err
      end
      parent = c
    end
  end
  local layer, granted = new_layer(parent and parent.layer)
  local fstate = { path = path, root = root, layer = layer, items = nil, skipped = nil, skip_item = nil,
    timeout = nil, hooks = parent and parent.block }
  local ok, lerr, env, order = run_file(path, root, fstate, granted, parent)
  if not ok then
    if not env or not is_skip(lerr) then
      return nil, lerr
    end
    fstate.skipped = lerr.reason
    fstate.skip_item = { kind = "file", name = "", id = path, file = fstate, line = 0 }
  end
  local fok, items = pcall(finalize, fstate, env, order)
  if not fok then
    return nil, path .. ": " .. error_text(items)
  end
  fstate.items = items
  return fstate
end

-- ---- selection and order ------------------------------------------------------------------

--- keyword_test(keywords): the test of the -k patterns of a run (a list,
--- OR'ed; none keeps everything): a function of an id; or nil and a
--- message naming the bad pattern.
function M.keyword_test(keywords)
  keywords = keywords or {}
  if #keywords == 0 then
    return function()
      return true
    end
  end
  local tests = {}
  for k = 1, #keywords do
    local test, why = cli.keyword_matcher(keywords[k])
    if not test then
      return nil, format("-k '%s': %s", tostring(keywords[k]), why)
    end
    tests[k] = test
  end
  return function(id)
    id = id:lower()
    for k = 1, #tests do
      if tests[k](id) then
        return true
      end
    end
    return false
  end
end

--- split_ids(paths): the paths of a run with node ids (FILE::NAME) cut to
--- their file, in order, and the ids: a list of { arg =, file =, name = }.
function M.split_ids(paths)
  local files, ids = {}, {}
  for i, p in ipairs(paths) do
    local file, name = p:match("^(.-)::(.*)$")
    if file and file ~= "" and name ~= "" then
      ids[#ids + 1] = { arg = p, file = file, name = name }
      files[i] = file
    else
      files[i] = p
    end
  end
  return files, ids
end

-- Whether a test named `name` is what the name of a node id selects: the
-- test itself, the tests of a describe block (`outer > inner`), of a test
-- case class (`Case`), or its repeats and parameters (`test_x[...]`).
local function name_selects(want, name)
  if name == want then
    return true
  end
  local n = #want
  if name:sub(1, n) ~= want then
    return false
  end
  local rest = name:sub(n + 1)
  return rest:sub(1, 3) == " > " or rest:sub(1, 1) == "[" or rest:sub(1, 1) == "."
end

-- The items of a file that its node ids select, marking each id that
-- selected something.
local function by_ids(items, ids)
  local out = {}
  for _, item in ipairs(items) do
    for _, id in ipairs(ids) do
      if name_selects(id.name, item.name) then
        id.matched = true
        out[#out + 1] = item
        break
      end
    end
  end
  return out
end

--- repeat_items(fstate, n): --count: each of the file's tests n times in a
--- row, as copies whose id and name gain [1-n] ... [n-n] (inside brackets
--- already there: [200-1-n]), as pytest-repeat names them. Returns fstate.
local function with_suffix(s, suffix)
  if s:sub(-1) == "]" then
    return s:sub(1, -2) .. "-" .. suffix .. "]"
  end
  return s .. "[" .. suffix .. "]"
end

function M.repeat_items(fstate, n)
  if not n or n <= 1 then
    return fstate
  end
  local out = {}
  for _, item in ipairs(fstate.items) do
    for k = 1, n do
      local copy = {}
      for key, v in pairs(item) do
        copy[key] = v
      end
      local suffix = format("%d-%d", k, n)
      copy.name, copy.id = with_suffix(item.name, suffix), with_suffix(item.id, suffix)
      out[#out + 1] = copy
    end
  end
  fstate.items = out
  return fstate
end

-- A new list of the items whose id passes keep(id).
local function filter(items, keep)
  local out = {}
  for _, item in ipairs(items) do
    if keep(item.id) then
      out[#out + 1] = item
    end
  end
  return out
end

-- A new list of the items whose marks pass the -m test.
local function by_marks(items, test)
  local out, none = {}, {}
  for _, item in ipairs(items) do
    if test(item.markset or none) then
      out[#out + 1] = item
    end
  end
  return out
end

local function weight(entry)
  return #entry.items + (entry.skip and 1 or 0)
end

--- select(specs, o): the plan of a run, a list of { fstate =, items =,
--- skip = } in the order to run, after the node ids (o.ids, from
--- split_ids; o.whole: the set of files also named whole, by a path that
--- is no id), -k, -m, --lf, --shard and --shuffle; and { total =, deselected
--- =, notes = {lines for the report header}, unmatched = {the node ids
--- that selected nothing} }. o.markexpr is the -m expression. A bad -k
--- pattern raises.
function M.select(specs, o)
  local entries, collected, notes = {}, 0, {}
  local keep = assert(M.keyword_test(o.keywords))
  local marked = o.markexpr and assert(cli.mark_matcher(o.markexpr))
  local ids_of, whole = {}, o.whole or {}
  for _, id in ipairs(o.ids or {}) do
    local list = ids_of[id.file] or {}
    ids_of[id.file] = list
    list[#list + 1] = id
  end
  for _, fstate in ipairs(specs) do
    collected = collected + #fstate.items + (fstate.skipped and 1 or 0)
    local items, ids = fstate.items, ids_of[fstate.path]
    if ids and whole[fstate.path] then
      for _, id in ipairs(ids) do
        id.matched = true
      end
    elseif ids then
      items = by_ids(items, ids)
      -- (A file that skipped itself while loading has its skip entry.)
      if fstate.skipped ~= nil then
        for _, id in ipairs(ids) do
          id.matched = true
        end
      end
    end
    items = filter(items, keep)
    if marked then
      items = by_marks(items, marked)
    end
    entries[#entries + 1] = {
      fstate = fstate,
      items = items,
      skip = fstate.skipped ~= nil and keep(fstate.path) and (not marked or marked({})),
    }
  end
  local unmatched = {}
  for _, id in ipairs(o.ids or {}) do
    if not id.matched then
      unmatched[#unmatched + 1] = id.arg
    end
  end
  if o.lf then
    local note
    entries, note = require("luatest.cache").keep_failed(entries, weight, filter)
    notes[#notes + 1] = note
  end
  local by_durations
  if o.shard then
    -- (o.shard_durations: id -> seconds, see luatest.durations)
    by_durations = require("luatest.durations").weigher(entries, o.shard_durations)
    entries = require("luatest.order").shard(entries, o.shard[1], o.shard[2], by_durations or weight)
  end
  local plan, total = {}, 0
  for _, e in ipairs(entries) do
    local w = weight(e)
    if w > 0 then
      plan[#plan + 1] = e
      total = total + w
    end
  end
  if o.shard then
    local how = {}
    how[#how + 1] = o.shard.source
    how[#how + 1] = by_durations and ("balanced by the durations in " .. tostring(o.durations_from)) or nil
    notes[#notes + 1] = format("shard %d/%d: %d test%s in %d file%s%s", o.shard[1], o.shard[2], total,
      total == 1 and "" or "s", #plan, #plan == 1 and "" or "s", #how > 0 and (" (" .. table.concat(how, "; ")
      .. ")") or "")
  end
  if o.shuffle then
    require("luatest.order").shuffle_plan(plan, o.seed)
  end
  return plan, { total = total, deselected = collected - total, notes = notes, unmatched = unmatched }
end

return M
