--- luatest.runner: the command line. Finds the spec files, loads each in
--- its own environment collecting its tests in definition order, runs every
--- test in one task with its fixtures, hooks and teardowns, checks that it
--- left nothing open, and emits events for the report (report/text.lua).
local core = require "luatest.core"
local luatest = require "luatest"
local fixtures = require "luatest.fixtures"
local assertions = require "luatest.assert"

local type, error, format, pcall, xpcall, setmetatable, rawget, rawset, tostring =
  type, error, string.format, pcall, xpcall, setmetatable, rawget, rawset, tostring
local unpack, sort, concat = table.unpack, table.sort, table.concat
local getinfo, getlocal, getupvalue, traceback = debug.getinfo, debug.getlocal, debug.getupvalue, debug.traceback
local run_until_complete, open_objects, hrtime = core.run_until_complete, core.open_objects, core.hrtime
local is_skip, is_failure, error_text, repr = assertions.is_skip, assertions.is_failure, assertions.error_text,
  assertions.repr

local rt = luatest._runtime

local function run_task(fn, ...)
  return run_until_complete(fn, ...)
end
local C_ASSERT = assert

local M = {}

-- ---- the command line -----------------------------------------------------------------------

M.HELP = [[
usage: luatest [options] [paths...]

Runs the tests of every *_spec.lua and test_*.lua file below the paths
(default: spec/). A file named on the command line is loaded whatever its
name. Tests are global test_* functions, it() blocks inside describe(), and
the test_* methods of AioHTTPTestCase classes, in definition order.

options:
  -k PATTERN   run only the tests whose id (path::name) contains PATTERN,
               ignoring case; repeat it to keep tests matching any pattern
  -x           stop after the first failed test
  --list       print the ids of the collected tests, one a line, and exit
  -v           verbose: one line per test with its time, skip reasons and
               the tracebacks of handler errors
  -q           quiet: progress characters and failures only
  --no-color   no colours (they are used only when stdout is a terminal and
               NO_COLOR is unset)
  --env        print the LUA_PATH and LUA_CPATH exports that let a stock
               lua5.4 load the luatest modules
  --version    print the version
  -h, --help   print this help

exit status: 0 all tests passed, 1 some failed, 2 bad usage or a spec file
that does not load, 5 no test was collected.
]]

local FLAGS = {
  ["-x"] = "exitfirst",
  ["--list"] = "list",
  ["-v"] = "verbose",
  ["-q"] = "quiet",
  ["--no-color"] = "no_color",
  ["--env"] = "env",
  ["--version"] = "version",
  ["-h"] = "help",
  ["--help"] = "help",
}

--- parse_args(args): the options table, or nil and a message.
function M.parse_args(args)
  local o = { paths = {}, keywords = {}, verbosity = 0 }
  local i, n = 1, #args
  local only_paths = false
  local function flag(name)
    if name == "verbose" then
      o.verbosity = 1
    elseif name == "quiet" then
      o.verbosity = -1
    else
      o[name] = true
    end
  end
  while i <= n do
    local a = args[i]
    if type(a) ~= "string" then
      return nil, format("argument %d is not a string", i)
    end
    if only_paths or a:sub(1, 1) ~= "-" or a == "-" then
      o.paths[#o.paths + 1] = a
    elseif a == "--" then
      only_paths = true
    elseif FLAGS[a] then
      flag(FLAGS[a])
    elseif a:sub(1, 2) == "-k" then
      local v = a:sub(3)
      if v == "" then
        i = i + 1
        v = args[i]
      end
      if v == nil or v == "" then
        return nil, "option -k needs a non-empty pattern"
      end
      o.keywords[#o.keywords + 1] = v:lower()
    elseif a:find("^%-%a%a+$") then
      for c in a:sub(2):gmatch(".") do
        local name = FLAGS["-" .. c]
        if not name then
          return nil, format("unknown option '-%s' (in '%s')", c, a)
        end
        flag(name)
      end
    else
      return nil, format("unknown option '%s'", a)
    end
    i = i + 1
  end
  return o
end

-- ---- discovery ---------------------------------------------------------------------------------

local function is_spec_name(name)
  return (name:sub(-9) == "_spec.lua" and #name > 9) or (name:sub(1, 5) == "test_" and name:sub(-4) == ".lua")
end

local function join(dir, name)
  if dir == "." then
    return name
  elseif dir:sub(-1) == "/" then
    return dir .. name
  end
  return dir .. "/" .. name
end

local function walk(dir, out)
  local entries, err = core.listdir(dir)
  if not entries then
    return nil, err
  end
  sort(entries, function(a, b)
    return a[1] < b[1]
  end)
  for _, e in ipairs(entries) do
    local name, kind = e[1], e[2]
    if name:sub(1, 1) ~= "." then
      local path = join(dir, name)
      if kind == "other" then
        kind = core.stat(path)
      end
      if kind == "dir" then
        local ok, werr = walk(path, out)
        if not ok then
          return nil, werr
        end
      elseif kind == "file" and is_spec_name(name) then
        out[#out + 1] = path
      end
    end
  end
  return true
end

--- discover(paths): the spec files below the paths (files named directly
--- are kept whatever their name), or nil and a message.
function M.discover(paths)
  local files, seen = {}, {}
  for _, p in ipairs(paths) do
    local path = p
    while #path > 1 and path:sub(-1) == "/" do
      path = path:sub(1, -2)
    end
    local kind, err = core.stat(path)
    if not kind then
      return nil, format("%s: %s", p, (tostring(err):gsub(" %(.-%)$", "")))
    end
    local found = {}
    if kind == "dir" then
      local ok, werr = walk(path, found)
      if not ok then
        return nil, format("cannot read %s: %s", p, tostring(werr))
      end
    else
      found[1] = path
    end
    for _, f in ipairs(found) do
      if not seen[f] then
        seen[f] = true
        files[#files + 1] = f
      end
    end
  end
  return files
end

-- ---- error information ------------------------------------------------------------------------

local function is_internal(source)
  return source:sub(1, 9) == "=luatest/" or source:find("/lua/luatest/", 1, true) ~= nil
end

local KEYWORDS = {}
for w in ([[and break do else elseif end false for function goto if in local nil not or repeat return then
  true until while]]):gmatch("%a+") do
  KEYWORDS[w] = true
end

local file_lines = {}
local MAX_LOCAL = 200

local function source_line(source, line)
  if source:sub(1, 1) ~= "@" then
    return nil
  end
  local path = source:sub(2)
  local lines = file_lines[path]
  if lines == nil then
    lines = false
    local f = io.open(path, "r")
    if f then
      lines = {}
      for l in f:lines() do
        lines[#lines + 1] = l
      end
      f:close()
    end
    file_lines[path] = lines
  end
  return lines and lines[line]
end

-- The values of the locals and upvalues named on a source line, as a list
-- of "name = value" strings. `level` is the frame's level for this function.
local function named_values(level, func, line)
  local order, wanted = {}, {}
  for pos, name in line:gsub("%-%-.*$", ""):gmatch("()([%a_][%w_]*)") do
    local prev = pos > 1 and line:sub(pos - 1, pos - 1) or ""
    if prev ~= "." and prev ~= ":" and not KEYWORDS[name] and not wanted[name] then
      wanted[name] = true
      order[#order + 1] = name
    end
  end
  if #order == 0 then
    return nil
  end
  local values, found = {}, {}
  for i = 1, 250 do
    local name, value = getlocal(level, i)
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
  local out = {}
  for _, name in ipairs(order) do
    local v = values[name]
    if found[name] and type(v) ~= "function" and not modules[v] then
      local s = repr(v)
      if #s > MAX_LOCAL then
        s = s:sub(1, MAX_LOCAL - 3) .. "..."
      end
      out[#out + 1] = name .. " = " .. s
    end
  end
  return #out > 0 and out or nil
end

-- The xpcall message handler of tests, hooks and fixtures: runs where the
-- error was raised and records what the report shows.
local function handler(err)
  if is_skip(err) then
    return { skip = err.reason }
  end
  local info = { value = err, message = error_text(err) }
  local raiser = getinfo(2, "f")
  info.assertion = is_failure(err) or (raiser ~= nil and raiser.func == C_ASSERT)
  for level = 2, 200 do
    local ar = getinfo(level, "Slf")
    if not ar then
      break
    end
    if ar.what ~= "C" and ar.currentline > 0 and not is_internal(ar.source) then
      info.where = ar.short_src .. ":" .. ar.currentline
      local line = source_line(ar.source, ar.currentline)
      if line then
        info.source = format("%5d | %s", ar.currentline, (line:gsub("^%s+", "")))
        info.locals = named_values(level + 1, ar.func, line)
      end
      break
    end
  end
  info.traceback = traceback(nil, 2)
  if err ~= nil then
    info.task_traceback = rt.tracebacks[err]
  end
  return info
end
M.handler = handler

-- ---- collection --------------------------------------------------------------------------------

local Collector = {}
Collector.__index = Collector

function Collector:describe(name, fn)
  local parent = self.block
  local block = {
    name = name,
    parent = parent,
    prefix = parent.prefix and (parent.prefix .. " > " .. name) or name,
    before = {},
    after = {},
  }
  self.block = block
  fn()
  self.block = parent
end

function Collector:it(name, fn, level)
  local block = self.block
  local full = block.prefix and (block.prefix .. " > " .. name) or name
  local ar = getinfo(level, "l")
  local order = self.order
  order[#order + 1] = {
    kind = "it",
    name = full,
    id = self.file.path .. "::" .. full,
    fn = fn,
    block = block,
    file = self.file,
    line = ar and ar.currentline or getinfo(fn, "S").linedefined,
  }
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

local function index(t, k)
  return t[k]
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
            line = getinfo(v, "S").linedefined,
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
  return items
end

local function load_handler(err)
  if is_skip(err) then
    return err
  end
  return traceback(error_text(err), 2)
end

--- load_spec(path): loads a spec file in its own environment and returns
--- its state { path, layer (fixtures), items (tests in definition order),
--- skipped (reason, when the file called skip) }, or nil and a message.
function M.load_spec(path)
  local fstate = { path = path, layer = {}, items = nil, skipped = nil }
  local order, seen = {}, {}
  -- busted's names are globals of every spec file, as in busted.
  local env = setmetatable({
    describe = luatest.describe,
    it = luatest.it,
    before_each = luatest.before_each,
    after_each = luatest.after_each,
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
  local chunk, err = loadfile(path, "t", env)
  if not chunk then
    return nil, err
  end
  local root = { before = {}, after = {} }
  rt.collector = setmetatable({ file = fstate, order = order, block = root }, Collector)
  fixtures.loading = { source = "@" .. path, layer = fstate.layer }
  local ok, lerr = xpcall(chunk, load_handler)
  rt.collector = nil
  fixtures.loading = nil
  if not ok then
    if not is_skip(lerr) then
      return nil, lerr
    end
    fstate.skipped = lerr.reason
  end
  local fok, items = pcall(finalize, fstate, env, order)
  if not fok then
    return nil, path .. ": " .. error_text(items)
  end
  fstate.items = items
  return fstate
end

-- ---- running one test --------------------------------------------------------------------------

local function record(res, info, phase)
  if info.skip then
    if res.status == "pass" then
      res.status = "skip"
      res.reason = info.skip
    end
    return
  end
  info.phase = phase
  if res.failure == nil then
    res.failure = info
    res.status = (phase == "call" and info.assertion) and "fail" or "error"
  else
    local extra = res.extra
    if not extra then
      extra = {}
      res.extra = extra
    end
    extra[#extra + 1] = info
  end
end

local function record_teardown(info, name, res)
  info.fixture = name
  record(res, info, "teardown")
end

-- Runs fn with its fixtures; false when something failed (recorded in res).
local function call_with_fixtures(res, ctx, fn, who)
  local ok, args, n = xpcall(fixtures.args, handler, fn, ctx, 1, who)
  if not ok then
    record(res, args, "setup")
    return false
  end
  local ok2, info = xpcall(fn, handler, unpack(args, 1, n))
  if not ok2 then
    record(res, info, "call")
    return false
  end
  return true
end

-- The blocks from the file down to `block` that have hooks (cached).
local function hook_chain(block)
  local chain = block.chain
  if chain then
    return chain
  end
  local rev = {}
  local b = block
  while b do
    if #b.before > 0 or #b.after > 0 then
      rev[#rev + 1] = b
    end
    b = b.parent
  end
  chain = {}
  for i = #rev, 1, -1 do
    chain[#chain + 1] = rev[i]
  end
  block.chain = chain
  return chain
end

local function teardown_task(scope, res)
  fixtures.teardown(scope, handler, record_teardown, res)
end

-- The body of a test's task: hooks, the test, hooks, fixture teardown.
local function test_task(item, ctx, res)
  local kind = item.kind
  if kind == "function" then
    call_with_fixtures(res, ctx, item.fn, item.name)
  elseif kind == "it" then
    local chain = hook_chain(item.block)
    local started, ok = 0, true
    for i = 1, #chain do
      started = i
      local befores = chain[i].before
      for j = 1, #befores do
        if not call_with_fixtures(res, ctx, befores[j], "a before_each hook") then
          ok = false
          break
        end
      end
      if not ok then
        break
      end
    end
    if ok then
      call_with_fixtures(res, ctx, item.fn, item.name)
    end
    for i = started, 1, -1 do
      local afters = chain[i].after
      for j = 1, #afters do
        call_with_fixtures(res, ctx, afters[j], "an after_each hook")
      end
    end
  else
    local class = item.case
    local ok, inst = xpcall(class._case_setup, handler, class)
    if not ok then
      record(res, inst, "setup")
    else
      local ok2, info = xpcall(inst[item.method], handler, inst)
      if not ok2 then
        record(res, info, "call")
      end
      local ok3, info3 = xpcall(class._case_teardown, handler, inst)
      if not ok3 then
        record(res, info3, "teardown")
      end
    end
  end
  if ctx.func then
    fixtures.teardown(ctx.func, handler, record_teardown, res)
  end
end

local function take_handler_errors()
  if not package.loaded["luatest.web"] then
    return nil
  end
  local tu = package.loaded["luatest.test_utils"]
  if not tu then
    local ok, mod = pcall(require, "luatest.test_utils")
    if not ok then
      return nil
    end
    tu = mod
  end
  local take = type(tu) == "table" and tu.take_handler_errors
  if type(take) ~= "function" then
    return nil
  end
  local list = take()
  if type(list) == "table" and #list > 0 then
    return list
  end
  return nil
end

local function close_objects(list)
  for _, obj in ipairs(list) do
    pcall(obj.close, obj)
  end
end

-- Objects the test opened and left open fail it, and are closed.
local function check_leaks(res, before)
  local after = open_objects()
  if #after == 0 then
    return
  end
  local allowed = fixtures.allowed
  local prev, leaked
  for _, entry in ipairs(after) do
    local obj = entry[1]
    if not allowed[obj] then
      if not prev then
        prev = {}
        for _, b in ipairs(before) do
          prev[b[1]] = true
        end
      end
      if not prev[obj] then
        leaked = leaked or {}
        leaked[#leaked + 1] = entry
      end
    end
  end
  if not leaked then
    return
  end
  local lines, objs = {}, {}
  for i, entry in ipairs(leaked) do
    lines[i] = "  " .. entry[2]
    objs[i] = entry[1]
  end
  sort(lines)
  record(res, {
    message = format("the test left %d object%s open:\n%s", #leaked, #leaked == 1 and "" or "s", concat(lines, "\n")),
    assertion = true,
  }, "call")
  pcall(run_task, close_objects, objs)
end

local function run_test(item, ctx_file, session, emit)
  emit("test_start", item)
  take_handler_errors()
  local before = open_objects()
  local res = { test = item, status = "pass" }
  local ctx = fixtures.new_context(ctx_file, session, item.file.layer)
  local t0 = hrtime()
  local ok, err = pcall(run_task, test_task, item, ctx, res)
  if not ok then
    record(res, { value = err, message = error_text(err) }, "call")
    if ctx.func and #ctx.func.teardowns > 0 then
      local tok, terr = pcall(run_task, teardown_task, ctx.func, res)
      if not tok then
        record(res, { value = terr, message = error_text(terr) }, "teardown")
      end
    end
  end
  check_leaks(res, before)
  if next(rt.tracebacks) then
    rt.tracebacks = {}
  end
  res.handler_errors = take_handler_errors()
  res.duration = hrtime() - t0
  emit("test_end", res)
  return res
end

-- Tears down a file or session scope; returns the list of failures.
local function close_scope(scope, label)
  local failures = {}
  local function report(info, name)
    info.fixture = name
    info.phase = "teardown"
    failures[#failures + 1] = info
  end
  if #scope.teardowns > 0 then
    local ok, err = pcall(run_task, fixtures.teardown, scope, handler, report)
    if not ok then
      failures[#failures + 1] = { value = err, message = error_text(err), phase = "teardown" }
    end
  end
  if #scope.objects > 0 then
    local open = {}
    for _, entry in ipairs(open_objects()) do
      open[entry[1]] = entry[2]
    end
    local left, lines = {}, {}
    for _, obj in ipairs(scope.objects) do
      fixtures.allowed[obj] = nil
      if open[obj] then
        left[#left + 1] = obj
        lines[#lines + 1] = "  " .. open[obj]
      end
    end
    if #left > 0 then
      sort(lines)
      failures[#failures + 1] = {
        message = format("%s fixtures left %d object%s open:\n%s", label, #left, #left == 1 and "" or "s",
          concat(lines, "\n")),
        phase = "teardown",
      }
      pcall(run_task, close_objects, left)
    end
  end
  return failures
end

-- ---- the run -----------------------------------------------------------------------------------

local function selected(items, keywords)
  if #keywords == 0 then
    return items
  end
  local out = {}
  for _, item in ipairs(items) do
    local id = item.id:lower()
    for k = 1, #keywords do
      if id:find(keywords[k], 1, true) then
        out[#out + 1] = item
        break
      end
    end
  end
  return out
end

local function use_color(o)
  if o.no_color then
    return false
  end
  local nc = os.getenv("NO_COLOR")
  if nc and nc ~= "" then
    return false
  end
  return core.isatty(1)
end

local function usage_error(msg)
  io.stderr:write("luatest: ", msg, " (see luatest --help)\n")
  return 2
end

--- run(o, reporters): runs the collected files with the parsed options o,
--- sending events to each reporter (a table of event handlers); returns the
--- exit code.
function M.run(o, reporters)
  local function emit(name, data)
    for i = 1, #reporters do
      local r = reporters[i]
      local f = r[name]
      if f then
        f(r, data)
      end
    end
  end

  local paths = #o.paths > 0 and o.paths or { "spec/" }
  local files, derr = M.discover(paths)
  if not files then
    return usage_error(derr)
  end

  -- Collection: every file is loaded before any test runs.
  local specs, load_errors, total, deselected = {}, 0, 0, 0
  for _, path in ipairs(files) do
    local fstate, lerr = M.load_spec(path)
    if not fstate then
      load_errors = load_errors + 1
      emit("collect_error", { file = path, message = lerr })
    else
      local items = selected(fstate.items, o.keywords)
      deselected = deselected + #fstate.items - #items
      fstate.selected = items
      if fstate.skipped and #selected({ { id = path } }, o.keywords) == 0 then
        fstate.skipped = nil
      end
      total = total + #items + (fstate.skipped and 1 or 0)
      specs[#specs + 1] = fstate
    end
  end

  if o.list then
    if load_errors == 0 then
      for _, fstate in ipairs(specs) do
        for _, item in ipairs(fstate.selected) do
          io.stdout:write(item.id, "\n")
        end
      end
    end
    emit("list_end", { errors = load_errors })
    return load_errors > 0 and 2 or (total == 0 and 5 or 0)
  end

  local counts = { passed = 0, failed = 0, skipped = 0, deselected = deselected, files = #specs, total = total }
  emit("run_start", counts)
  if load_errors > 0 then
    counts.interrupted = load_errors
    emit("run_end", counts)
    return 2
  end
  if total == 0 then
    emit("run_end", counts)
    return 5
  end

  local t0 = hrtime()
  local session = fixtures.new_scope("session")
  local stop = false
  for _, fstate in ipairs(specs) do
    local items = fstate.selected
    if #items > 0 or fstate.skipped then
      emit("file_start", { file = fstate.path, count = #items })
      if fstate.skipped then
        local item = { kind = "file", name = "", id = fstate.path, file = fstate, line = 0 }
        emit("test_start", item)
        counts.skipped = counts.skipped + 1
        emit("test_end", { test = item, status = "skip", reason = fstate.skipped, duration = 0 })
      end
      local scope = fixtures.new_scope("file")
      for i = 1, #items do
        local res = run_test(items[i], scope, session, emit)
        local status = res.status
        if status == "pass" then
          counts.passed = counts.passed + 1
        elseif status == "skip" then
          counts.skipped = counts.skipped + 1
        else
          counts.failed = counts.failed + 1
          if o.exitfirst then
            stop = true
            break
          end
        end
      end
      for _, info in ipairs(close_scope(scope, "file")) do
        counts.failed = counts.failed + 1
        emit("scope_error", { scope = "file", file = fstate.path, failure = info })
      end
      emit("file_end", { file = fstate.path })
    end
    if stop then
      counts.stopped = true
      break
    end
  end
  for _, info in ipairs(close_scope(session, "session")) do
    counts.failed = counts.failed + 1
    emit("scope_error", { scope = "session", failure = info })
  end
  counts.duration = hrtime() - t0
  emit("run_end", counts)
  return counts.failed > 0 and 1 or 0
end

--- main(args): the command line (args = list of strings); returns the
--- exit code.
function M.main(args)
  -- Each test leaves garbage (an app, a server, a client): collecting when
  -- the heap has grown 20% rather than doubled keeps peak memory near the
  -- live size at no measurable cost in time.
  collectgarbage("incremental", 120, 200)
  local o, perr = M.parse_args(args or {})
  if not o then
    return usage_error(perr)
  end
  if o.help then
    io.stdout:write(M.HELP)
    return 0
  end
  if o.version then
    io.stdout:write("luatest ", tostring(core.version), "\n")
    return 0
  end
  if o.env then
    local dir = core.srcdir
    if not dir then
      io.stderr:write("luatest: --env: this build does not know its source directory\n")
      return 2
    end
    io.stdout:write(format("export LUA_PATH='%s/lua/?.lua;%s/lua/?/init.lua;;'\n", dir, dir))
    io.stdout:write(format("export LUA_CPATH='%s/lib/?.so;;'\n", dir))
    return 0
  end
  local text = require("luatest.report.text").new {
    out = io.stdout,
    verbosity = o.verbosity,
    color = use_color(o),
    tty = core.isatty(1),
  }
  local ok, rc = xpcall(M.run, traceback, o, { text })
  io.stdout:flush()
  if not ok then
    io.stderr:write("luatest: internal error: ", tostring(rc), "\n")
    return 2
  end
  return rc
end

return M
