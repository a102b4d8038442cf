--- luatest.runner: the command line. Takes the options (.luatest.lua, then
--- the arguments), finds the spec files, loads each in its own environment
--- collecting its tests in definition order, selects and orders them (-k,
--- --lf, --shard, --shuffle), runs every test in one task with its fixtures,
--- hooks, teardowns and time limit, checks that it left nothing open, and
--- emits events for the reports (report/*.lua). With -j N the files run in
--- worker processes (luatest.parallel) whose events are replayed here.
local core = require "luatest.core"
local luatest = require "luatest"
local fixtures = require "luatest.fixtures"
local assertions = require "luatest.assert"

local compat = require "luatest.compat"
-- (compat's pcall and xpcall: a task may wait inside them under Lua 5.1 too.)
local type, error, format, pcall, xpcall, setmetatable, rawget, rawset, tostring, tonumber =
  type, error, string.format, compat.pcall, compat.xpcall, setmetatable, rawget, rawset, tostring, tonumber
local erring_thread = compat.erring_thread
local unpack, sort, concat = compat.unpack, table.sort, table.concat
local tointeger, huge = compat.tointeger, math.huge
local getinfo, traceback = debug.getinfo, debug.traceback
local run_until_complete, run_with_timeout, open_objects, hrtime = core.run_until_complete,
  core.run_with_timeout, core.open_objects, core.hrtime
local is_skip, is_failure, error_text = assertions.is_skip, assertions.is_failure, assertions.error_text

local rt = luatest._runtime

local function run_task(fn, ...)
  return run_until_complete(fn, ...)
end
local C_ASSERT = assert

local M = {}

--- The file of defaults read from the current directory.
M.CONFIG = ".luatest.lua"

-- ---- the command line -----------------------------------------------------------------------

M.HELP = [[
usage: luatest [options] [paths...]

Runs the tests of every *_spec.lua and test_*.lua file below the paths
(default: spec/). A file named on the command line is loaded whatever its
name. Tests are global test_* functions, it() blocks inside describe(), and
the test_* methods of AioHTTPTestCase classes, in definition order.

selection and order:
  -k PATTERN        run only the tests whose id (path::name) contains
                    PATTERN, ignoring case; repeat it to keep tests matching
                    any pattern
  --lf, --last-failed
                    run only the tests that failed in the last run (all of
                    them when none did); the state is kept in .luatest_cache/
                    of the current directory
  --shard K/N       run the K-th of N parts of the suite (1-based): whole
                    files, balanced by test count, the same split on every
                    machine
  --shuffle         run the files, and the tests of each file, in a random
                    order; the seed is printed so that the order can be
                    replayed
  --seed N          shuffle with this seed (implies --shuffle)
  -x, --exitfirst   stop after the first failed test
  --list            print the ids of the selected tests, one a line, and exit

running:
  --timeout S       fail a test still running after S seconds (default 30,
                    0 = no limit); the report shows where it was waiting.
                    A spec file sets its own with luatest.timeout(S), one
                    test with it(name, fn, {timeout = S})
  -j N, --jobs N    run the files in N worker processes; a worker that dies
                    fails the test it was running and the others go on

output:
  -v, --verbose     one line per test with its time, skip reasons and the
                    tracebacks of handler errors
  -q, --quiet       progress characters and failures only
  --output FORMAT   the report on stdout: text (default), tap (TAP 13),
                    junit (JUnit XML) or json (one JSON document)
  --junit-xml FILE  also write a JUnit XML report to FILE
  --durations N     list the N slowest tests (0: all of them) after the run
  --no-color        no colours (they are used only when stdout is a terminal
                    and NO_COLOR is unset)

other:
  --env             print the LUA_PATH_5_4 and LUA_CPATH_5_4 exports that let
                    a stock lua5.4 load the luatest modules: their
                    directories in front of the paths already set
  --version         print the versions of luatest, its Lua, libuv, llhttp and
                    libwebsockets
  -h, --help        print this help
  --worker          internal: the worker process of -j (reads its job on
                    stdin)

Defaults may be set in .luatest.lua in the current directory, a Lua file
returning a table with any of the keys paths, keywords (or k), lf, shard,
shuffle, seed, exitfirst, timeout, jobs, verbose, quiet, output, junit_xml,
durations, no_color, e.g. return {paths = {"spec/"}, timeout = 5, jobs = 4};
options given on the command line win.

exit status: 0 all tests passed, 1 some failed, 2 bad usage, a spec file or
.luatest.lua that does not load, 5 no test was collected.
]]

local OUTPUTS = { text = true, tap = true, junit = true, json = true }

local function to_integer(v)
  local n = tonumber(v)
  return n and tointeger(n)
end

local function whole_at_least(min)
  return function(v)
    local n = to_integer(v)
    if not n or n < min then
      return nil, "expected a whole number >= " .. min
    end
    return n
  end
end

local check_count, check_jobs = whole_at_least(0), whole_at_least(1)

local function check_seconds(v)
  local n = tonumber(v)
  if not n or n ~= n or n < 0 or n == huge then
    return nil, "expected a number of seconds >= 0"
  end
  return n
end

local function check_output(v)
  if OUTPUTS[v] then
    return v
  end
  return nil, "expected text, tap, junit or json"
end

local function check_file(v)
  if type(v) ~= "string" or v == "" then
    return nil, "expected a file name"
  end
  return v
end

local function check_pattern(v)
  if type(v) ~= "string" or v == "" then
    return nil, "needs a non-empty pattern"
  end
  return v:lower()
end

local function check_shard(v)
  local k, n
  if type(v) == "string" then
    k, n = v:match("^(%d+)/(%d+)$")
    k, n = to_integer(k), to_integer(n)
  end
  if not k or not n or n < 1 or k < 1 or k > n then
    return nil, "expected K/N with 1 <= K <= N"
  end
  return { k, n }
end

-- The options: key in the options table, flags, the name of the value if
-- one follows, its check, and whether .luatest.lua may set it.
local OPTIONS = {
  { key = "keywords", flags = { "-k" }, arg = "PATTERN", check = check_pattern, list = true, config = true },
  { key = "lf", flags = { "--lf", "--last-failed" }, config = true },
  { key = "shard", flags = { "--shard" }, arg = "K/N", check = check_shard, config = true },
  { key = "shuffle", flags = { "--shuffle" }, config = true },
  { key = "seed", flags = { "--seed" }, arg = "N", check = check_count, config = true },
  { key = "exitfirst", flags = { "-x", "--exitfirst" }, config = true },
  { key = "list", flags = { "--list" } },
  { key = "timeout", flags = { "--timeout" }, arg = "S", check = check_seconds, config = true },
  { key = "jobs", flags = { "-j", "--jobs" }, arg = "N", check = check_jobs, config = true },
  { key = "verbose", flags = { "-v", "--verbose" }, config = true },
  { key = "quiet", flags = { "-q", "--quiet" }, config = true },
  { key = "output", flags = { "--output" }, arg = "FORMAT", check = check_output, config = true },
  { key = "junit_xml", flags = { "--junit-xml" }, arg = "FILE", check = check_file, config = true },
  { key = "durations", flags = { "--durations" }, arg = "N", check = check_count, config = true },
  { key = "no_color", flags = { "--no-color" }, config = true },
  { key = "env", flags = { "--env" } },
  { key = "version", flags = { "--version" } },
  { key = "help", flags = { "-h", "--help" } },
  { key = "worker", flags = { "--worker" } },
}

local BY_FLAG = {}
for _, spec in ipairs(OPTIONS) do
  for _, f in ipairs(spec.flags) do
    BY_FLAG[f] = spec
  end
end

--- The flags the command line accepts (for --help and its test).
M.FLAGS = {}
for _, spec in ipairs(OPTIONS) do
  for _, f in ipairs(spec.flags) do
    M.FLAGS[#M.FLAGS + 1] = f
  end
end

local function set_option(o, spec, v)
  local key = spec.key
  if spec.list then
    local list = o[key]
    if not list then
      list = {}
      o[key] = list
    end
    list[#list + 1] = v
  elseif key == "verbose" then
    o.verbosity = 1
  elseif key == "quiet" then
    o.verbosity = -1
  else
    o[key] = v
  end
end

local function option_value(o, spec, flag, v)
  if v == nil then
    return format("option %s needs a value (%s)", flag, spec.arg)
  end
  local value, why = spec.check(v)
  if value == nil then
    return format("option %s: %s, got '%s'", flag, why, v)
  end
  set_option(o, spec, value)
end

--- parse_args(args): the options given on the command line, or nil and a
--- message. Only what was given is set, except `paths` (always a list);
--- -v and -q set `verbosity` (1, -1); repeated -k make the `keywords` list.
function M.parse_args(args)
  local o = { paths = {} }
  local i, n = 1, #args
  local only_paths = false
  while i <= n do
    local a = args[i]
    if type(a) ~= "string" then
      return nil, format("argument %d is not a string", i)
    end
    if only_paths or a:sub(1, 1) ~= "-" or a == "-" then
      o.paths[#o.paths + 1] = a
    elseif a == "--" then
      only_paths = true
    elseif a:sub(1, 2) == "--" then
      local flag, value = a:match("^(%-%-[^=]+)=(.*)$")
      flag = flag or a
      local spec = BY_FLAG[flag]
      if not spec then
        return nil, format("unknown option '%s'", flag)
      end
      if spec.arg then
        if value == nil then
          i = i + 1
          value = args[i]
        end
        local err = option_value(o, spec, flag, value)
        if err then
          return nil, err
        end
      elseif value ~= nil then
        return nil, format("option %s takes no value", flag)
      else
        set_option(o, spec, true)
      end
    else
      -- Short options, which may be grouped (-xv) and take their value
      -- attached or as the next argument (-kfoo, -k foo, -j4).
      local j = 2
      while j <= #a do
        local c = a:sub(j, j)
        local spec = BY_FLAG["-" .. c]
        if not spec then
          return nil, format("unknown option '-%s' (in '%s')", c, a)
        end
        if spec.arg then
          local value = a:sub(j + 1)
          if value == "" then
            i = i + 1
            value = args[i]
          end
          local err = option_value(o, spec, "-" .. c, value)
          if err then
            return nil, err
          end
          break
        end
        set_option(o, spec, true)
        j = j + 1
      end
    end
    i = i + 1
  end
  return o
end

--- load_config(path): the defaults in a .luatest.lua (see luatest.config),
--- checked; an empty table when there is no such file; nil and a message
--- when it does not load or is wrong.
function M.load_config(path)
  local f = io.open(path, "r")
  if not f then
    return {}
  end
  f:close()
  return require("luatest.config").load(path, OPTIONS)
end

local function random_seed()
  return (os.time() * 1000003 + math.floor(hrtime() * 1e9)) % 4294967296
end

--- resolve(cli, config): the options of a run: the command line's, then the
--- config file's, then the defaults (timeout 30, jobs 1, output text).
--- --seed implies --shuffle; --shuffle alone draws a seed.
function M.resolve(cli, config)
  local o = {}
  for _, spec in ipairs(OPTIONS) do
    local v = cli[spec.key]
    if v == nil and spec.config then
      v = config[spec.key]
    end
    o[spec.key] = v
  end
  o.verbose, o.quiet = nil, nil
  o.paths = (#cli.paths > 0 and cli.paths) or config.paths or {}
  o.keywords = o.keywords or {}
  o.verbosity = cli.verbosity or config.verbosity or 0
  if o.timeout == nil then
    o.timeout = 30
  end
  o.jobs = o.jobs or 1
  o.output = o.output or "text"
  if o.seed then
    o.shuffle = true
  elseif o.shuffle then
    o.seed = random_seed()
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

local file_lines = {}

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

local function index(t, k)
  return t[k]
end

local function seconds_text(s)
  return format("%g s", s)
end

-- The xpcall message handler of tests, hooks and fixtures: runs where the
-- error was raised and records what the report shows.
local function handler(err)
  if is_skip(err) then
    return { skip = err.reason }
  end
  local info = { value = err, message = error_text(err) }
  -- Under 5.1 the handler runs after the fact, on the stack the failed
  -- coroutine left, where the raiser is level 0 (level 2 here).
  local co = erring_thread()
  local function frame(level, what)
    if co then
      return getinfo(co, level - 2, what)
    end
    local ar = getinfo(level + 1, what) -- (not a tail call: LuaJIT would drop this frame)
    return ar
  end
  local raiser = frame(2, "f")
  info.assertion = is_failure(err) or (raiser ~= nil and raiser.func == C_ASSERT)
  for level = 2, 200 do
    local ar = frame(level, "Slf")
    if not ar then
      break
    end
    if ar.what ~= "C" and ar.currentline > 0 and not is_internal(ar.source) then
      info.where = ar.short_src .. ":" .. ar.currentline
      local line = source_line(ar.source, ar.currentline)
      if line then
        info.source = format("%5d | %s", ar.currentline, (line:gsub("^%s+", "")))
        if co then
          info.locals = require("luatest.values").named(level - 2, ar.func, line, co)
        else
          info.locals = require("luatest.values").named(level, ar.func, line)
        end
      end
      break
    end
  end
  -- ("", not nil: LuaJIT returns nil for nil)
  info.traceback = co and traceback(co, "", 0) or traceback("", 2)
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

function Collector:it(name, fn, level, timeout)
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
    timeout = timeout,
  }
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
--- skipped (reason, when the file called skip) and skip_item (the entry
--- that reports it), timeout (set by luatest.timeout) }, or nil and a
--- message.
function M.load_spec(path)
  local fstate = { path = path, layer = {}, items = nil, skipped = nil, skip_item = nil, timeout = nil }
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
  local chunk, err = compat.loadfile(path, "t", env)
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
    fstate.skip_item = { kind = "file", name = "", id = path, file = fstate, line = 0 }
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

-- "No time limit" for run_with_timeout, in seconds.
local NO_LIMIT = 1e9
M.NO_LIMIT = NO_LIMIT

--- time_limit(item, o): a test's time limit in seconds: its own (the
--- timeout option of it()), its file's (luatest.timeout), or o.timeout; NO_LIMIT
--- for none. A test that waits longer is stopped. (A test busy in Lua code
--- that never waits cannot be interrupted; with -j its worker is stopped
--- once the limits of its tests have all passed.)
function M.time_limit(item, o)
  local s = item.timeout
  if s == nil then
    s = item.file.timeout
  end
  if s == nil then
    s = o.timeout
  end
  if s == nil or s <= 0 or s >= NO_LIMIT then
    return NO_LIMIT
  end
  return s
end

-- Runs the after_each hooks still due: the levels from progress.after_from
-- down, each counted as done before it starts (a hook that hung is not
-- called again).
local function run_after_hooks(res, ctx, chain, progress)
  local i = progress.after_from or 0
  while i >= 1 do
    progress.after_from = i - 1
    local afters = chain[i].after
    for j = 1, #afters do
      call_with_fixtures(res, ctx, afters[j], "an after_each hook")
    end
    i = i - 1
  end
end

-- The body of a test's task: hooks, the test, hooks, fixture teardown.
-- `progress` says what is left to undo if the task is stopped.
local function test_task(item, ctx, res, progress)
  local kind = item.kind
  if kind == "function" then
    call_with_fixtures(res, ctx, item.fn, item.name)
  elseif kind == "it" then
    local chain = hook_chain(item.block)
    local ok = true
    for i = 1, #chain do
      progress.after_from = i
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
    run_after_hooks(res, ctx, chain, progress)
  else
    local class = item.case
    local ok, inst = xpcall(class._case_setup, handler, class)
    if not ok then
      record(res, inst, "setup")
    else
      progress.inst = inst
      local ok2, info = xpcall(inst[item.method], handler, inst)
      if not ok2 then
        record(res, info, "call")
      end
      progress.inst = nil
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

-- After a test's task was stopped (time limit, or waiting on nothing): the
-- after_each hooks still due, the test case's teardown, fixture teardowns.
local function finish_task(item, ctx, res, progress)
  if item.kind == "it" then
    run_after_hooks(res, ctx, hook_chain(item.block), progress)
  elseif progress.inst then
    local inst = progress.inst
    progress.inst = nil
    local ok, info = xpcall(item.case._case_teardown, handler, inst)
    if not ok then
      record(res, info, "teardown")
    end
  end
  if ctx.func then
    fixtures.teardown(ctx.func, handler, record_teardown, res)
  end
end

-- The failure of a task that run_with_timeout stopped; `who` names what
-- ran in it ("the test", "its teardown", ...).
local function stopped_info(info, limit, who)
  local where = info.where
  if where == "?" then
    where = nil
  end
  local out = { where = where, traceback = info.traceback, assertion = info.timeout and true or false,
    timeout = info.timeout and true or nil }
  if info.timeout then
    out.message = format("timeout: %s did not finish within %s; it was waiting on %s", who, seconds_text(limit),
      info.waiting_on or "?")
  else
    out.message = format("%s waits on %s, and nothing is left that could wake it", who, info.waiting_on or "nothing")
  end
  if where then
    local path, line = where:match("^(.*):(%d+)$")
    line = to_integer(line)
    local text = path and source_line("@" .. path, line)
    if text then
      out.source = format("%5d | %s", line, (text:gsub("^%s+", "")))
    end
  end
  return out
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
  -- A FaultProxy closes with the test that made it (API.md section 13):
  -- closed here, and not held against the test.
  local proxies
  for i = #(leaked or {}), 1, -1 do
    if leaked[i][2]:find("^proxy created at ") then
      proxies = proxies or {}
      proxies[#proxies + 1] = leaked[i][1]
      table.remove(leaked, i)
    end
  end
  if proxies then
    pcall(run_task, close_objects, proxies)
  end
  if not leaked or #leaked == 0 then
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

local function run_test(item, ctx_file, session, emit, o)
  emit("test_start", item)
  take_handler_errors()
  local before = open_objects()
  local res = { test = item, status = "pass" }
  local ctx = fixtures.new_context(ctx_file, session, item.file.layer)
  local limit = M.time_limit(item, o)
  local progress = {}
  if o.seed then
    math.randomseed(o.seed)
  end
  -- run_with_timeout counts the limit from now, even after a test blocked
  -- outside the loop (io.popen).
  local t0 = hrtime()
  local ok, done, info = pcall(run_with_timeout, limit, test_task, item, ctx, res, progress)
  if not ok or not done then
    if not ok then
      record(res, { value = done, message = error_text(done) }, "call")
    else
      record(res, stopped_info(info, limit, "the test"), "call")
    end
    local ok2, done2, info2 = pcall(run_with_timeout, limit, finish_task, item, ctx, res, progress)
    if not ok2 then
      record(res, { value = done2, message = error_text(done2) }, "teardown")
    elseif not done2 then
      record(res, stopped_info(info2, limit, "its teardown"), "teardown")
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

-- Tears down a file or session scope, within the run's time limit (each
-- teardown that hangs is abandoned and the next one runs); returns the
-- list of failures.
local function close_scope(scope, label, o)
  local failures = {}
  local function report(info, name)
    info.fixture = name
    info.phase = "teardown"
    failures[#failures + 1] = info
  end
  local limit = M.time_limit({ file = {} }, o)
  local list = scope.teardowns
  while #list > 0 do
    local names = {}
    for i, entry in ipairs(list) do
      names[i] = entry.name
    end
    local ok, done, info = pcall(run_with_timeout, limit, fixtures.teardown, scope, handler, report)
    if not ok then
      failures[#failures + 1] = { value = done, message = error_text(done), phase = "teardown" }
      break
    elseif not done then
      local name = names[#list + 1]
      report(stopped_info(info, limit, format("the teardown of %s fixture '%s'", label, name)), name)
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

--- run_plan(plan, o, emit): runs a plan (a list of { fstate =, items =,
--- skip = } in order) in this process with the options o (timeout,
--- exitfirst, seed), sending the events to emit(name, data). Returns true
--- when -x stopped it.
-- Plugins define built-in fixtures; luatest.pytest_plugin is pytest-aiohttp's.
local PLUGINS = { "luatest.pytest_plugin" }

local function load_plugins()
  for _, name in ipairs(PLUGINS) do
    require(name)
  end
end

function M.run_plan(plan, o, emit)
  load_plugins()
  local session = fixtures.new_scope("session")
  local stop = false
  for _, entry in ipairs(plan) do
    local fstate, items = entry.fstate, entry.items
    emit("file_start", { file = fstate.path, count = #items })
    if entry.skip then
      local item = fstate.skip_item
      emit("test_start", item)
      emit("test_end", { test = item, status = "skip", reason = fstate.skipped, duration = 0 })
    end
    local scope = fixtures.new_scope("file")
    for i = 1, #items do
      local res = run_test(items[i], scope, session, emit, o)
      if o.exitfirst and (res.status == "fail" or res.status == "error") then
        stop = true
        break
      end
    end
    for _, info in ipairs(close_scope(scope, "file", o)) do
      emit("scope_error", { scope = "file", file = fstate.path, failure = info })
    end
    emit("file_end", { file = fstate.path })
    if stop then
      break
    end
  end
  for _, info in ipairs(close_scope(session, "session", o)) do
    emit("scope_error", { scope = "session", failure = info })
  end
  return stop
end
-- ---- selection and order ------------------------------------------------------------------

local function matches(id, keywords)
  if #keywords == 0 then
    return true
  end
  id = id:lower()
  for k = 1, #keywords do
    if id:find(keywords[k], 1, true) then
      return true
    end
  end
  return false
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

local function weight(entry)
  return #entry.items + (entry.skip and 1 or 0)
end

--- select(specs, o): the plan of a run, a list of { fstate =, items =,
--- skip = } in the order to run, after -k, --lf, --shard and --shuffle;
--- and { total =, deselected =, notes = {lines for the report header} }.
function M.select(specs, o)
  local entries, collected, notes = {}, 0, {}
  local keywords = o.keywords or {}
  for _, fstate in ipairs(specs) do
    collected = collected + #fstate.items + (fstate.skipped and 1 or 0)
    entries[#entries + 1] = {
      fstate = fstate,
      items = filter(fstate.items, function(id)
        return matches(id, keywords)
      end),
      skip = fstate.skipped ~= nil and matches(fstate.path, keywords),
    }
  end
  if o.lf then
    local note
    entries, note = require("luatest.cache").keep_failed(entries, weight, filter)
    notes[#notes + 1] = note
  end
  if o.shard then
    entries = require("luatest.order").shard(entries, o.shard[1], o.shard[2], weight)
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
    notes[#notes + 1] = format("shard %d/%d: %d test%s in %d file%s", o.shard[1], o.shard[2], total,
      total == 1 and "" or "s", #plan, #plan == 1 and "" or "s")
  end
  if o.shuffle then
    require("luatest.order").shuffle_plan(plan, o.seed)
  end
  return plan, { total = total, deselected = collected - total, notes = notes }
end

-- ---- the run -----------------------------------------------------------------------------------

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

-- The command that starts a worker: LUATEST_BIN if set; this binary when
-- the runner runs in it; otherwise (a host that required luatest: Neovim,
-- a stock lua) the luatest binary beside the library it loaded, or on PATH.
local function worker_command()
  local bin = os.getenv("LUATEST_BIN")
  if bin ~= nil and bin ~= "" then
    if not core.stat(bin) then
      return nil, format("LUATEST_BIN=%s: no such file", bin)
    end
    return { bin, "--worker" }
  end
  if package.loaded["luatest.binary"] then
    return { core.exepath() or "/proc/self/exe", "--worker" }
  end
  local lib = core.libpath() or "?"
  local dir = lib:match("^(.*)/[^/]*$") or "."
  local places = {}
  -- in the tree (lib/luatest/core.so, build-luajit/lib/...), an installed
  -- prefix (lib/libluatest.so.0, lib/lua/5.4/luatest/core.so, multiarch)
  for up = 1, 5 do
    local base = dir .. string.rep("/..", up)
    places[#places + 1] = base .. "/luatest"
    places[#places + 1] = base .. "/bin/luatest"
  end
  for entry in (os.getenv("PATH") or ""):gmatch("[^:]+") do
    places[#places + 1] = entry .. "/luatest"
  end
  for _, path in ipairs(places) do
    if core.stat(path) == "file" then
      return { path, "--worker" }
    end
  end
  return nil, format("workers run in the luatest binary, and this process (%s) is not it: "
    .. "none found beside %s or on PATH; set LUATEST_BIN", core.exepath() or "?", lib)
end

--- run(o, reporters): runs the collected files with the resolved options o,
--- sending events to each reporter (a table of event handlers: run_start,
--- file_start, test_start, test_end, scope_error, file_end, collect_error,
--- list_end, run_end); returns the exit code. Records the failures for --lf.
function M.run(o, reporters)
  local counts = { passed = 0, failed = 0, skipped = 0, deselected = 0, files = 0, total = 0 }
  local tracker = not o.list and require("luatest.cache").tracker() or nil
  -- In the luatest binary, a serial run that dies of a signal (a C handler)
  -- still prints the test it was in and the closing line; -j workers are
  -- reported by the parent instead.
  local binary = package.loaded["luatest.binary"]
  local crash_note = binary and o.jobs <= 1 and not o.list and binary.crash_note or nil
  local summary = crash_note and require("luatest.report.text").summary
  local function emit(name, data)
    if crash_note and name == "test_start" then
      counts.failed = counts.failed + 1
      crash_note(data.id, summary(counts))
      counts.failed = counts.failed - 1
    elseif name == "test_end" then
      local status = data.status
      if status == "pass" then
        counts.passed = counts.passed + 1
      elseif status == "skip" then
        counts.skipped = counts.skipped + 1
      else
        counts.failed = counts.failed + 1
      end
    elseif name == "scope_error" then
      counts.failed = counts.failed + 1
    end
    if tracker then
      local f = tracker[name]
      if f then
        f(tracker, data)
      end
    end
    for i = 1, #reporters do
      local r = reporters[i]
      local f = r[name]
      if f then
        f(r, data)
      end
    end
  end
  local function finish(rc)
    if crash_note then
      crash_note()
    end
    counts.exit_code = rc
    emit("run_end", counts)
    if tracker then
      local ok, err = tracker:save()
      if not ok then
        io.stderr:write("luatest: ", err, "\n")
      end
    end
    return rc
  end

  local paths = #o.paths > 0 and o.paths or { "spec/" }
  local files, derr = M.discover(paths)
  if not files then
    return usage_error(derr)
  end

  -- Collection: every file is loaded before any test runs.
  local specs, load_errors = {}, 0
  for _, path in ipairs(files) do
    local fstate, lerr = M.load_spec(path)
    if not fstate then
      load_errors = load_errors + 1
      emit("collect_error", { file = path, message = lerr })
    else
      specs[#specs + 1] = fstate
      if tracker then
        tracker:loaded(path)
      end
    end
  end
  local plan, sel = M.select(specs, o)

  if o.list then
    if load_errors == 0 then
      for _, e in ipairs(plan) do
        if e.skip then
          io.stdout:write(e.fstate.path, "\n")
        end
        for _, item in ipairs(e.items) do
          io.stdout:write(item.id, "\n")
        end
      end
    end
    emit("list_end", { errors = load_errors })
    return load_errors > 0 and 2 or (sel.total == 0 and 5 or 0)
  end

  counts.total, counts.deselected, counts.files = sel.total, sel.deselected, #plan
  counts.seed = o.shuffle and o.seed or nil
  emit("run_start", {
    total = sel.total,
    deselected = sel.deselected,
    files = #plan,
    seed = counts.seed,
    notes = sel.notes,
    jobs = o.jobs,
  })
  if load_errors > 0 then
    counts.interrupted = load_errors
    return finish(2)
  end
  if sel.total == 0 then
    return finish(5)
  end

  local t0 = hrtime()
  if o.jobs > 1 then
    local command, cerr = worker_command()
    local ok, stopped
    if command then
      ok, stopped = require("luatest.parallel").run(M, plan, o, emit, command)
    end
    if not ok then
      io.stderr:write("luatest: -j: ", cerr or stopped, "\n")
      counts.interrupted = 1
      counts.duration = hrtime() - t0
      return finish(2)
    end
    counts.stopped = stopped or nil
  else
    counts.stopped = M.run_plan(plan, o, emit) or nil
  end
  counts.duration = hrtime() - t0
  return finish(counts.failed > 0 and 1 or 0)
end

-- While a machine-readable report owns stdout, what the tests print (with
-- print, io.write or io.stdout) goes to stderr. Returns the function that
-- puts things back.
local function stdout_to_stderr()
  local stdout, output, print = io.stdout, io.output(), _G.print
  local err = io.stderr
  io.stdout = err
  io.output(err)
  _G.print = function(...)
    local n = select("#", ...)
    for i = 1, n do
      if i > 1 then
        err:write("\t")
      end
      err:write(tostring((select(i, ...))))
    end
    err:write("\n")
  end
  return function()
    io.stdout = stdout
    io.output(output)
    _G.print = print
  end
end

--- main(args): the command line (args = list of strings); returns the
--- exit code.
local function shell_quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

-- Where this binary's Lua modules and core.so are: beside it in the source
-- tree, in the prefix it was installed to (make install, a LuaRocks tree),
-- or in the tree it was built from (a build in a directory of its own).
local function module_dirs()
  local exe, err = core.exepath()
  if not exe then
    return nil, err
  end
  local bin = exe:match("^(.*)/[^/]*$") or "."
  local prefix = bin:match("^(.*)/[^/]*$") or ""
  local v = _VERSION:match("%d+%.%d+")
  local layouts = {
    { bin .. "/lua", bin .. "/lib" },
    { prefix .. "/share/lua/" .. v, prefix .. "/lib/lua/" .. v },
    { prefix .. "/share/lua/" .. v, prefix .. "/lib/" .. tostring(core.multiarch) .. "/lua/" .. v },
  }
  if core.srcdir then
    -- In the tree: another runtime's build keeps its libraries beside it.
    layouts[#layouts + 1] = { core.srcdir .. "/lua", bin .. "/lib" }
    layouts[#layouts + 1] = { core.srcdir .. "/lua", core.srcdir .. "/lib" }
  end
  for _, dirs in ipairs(layouts) do
    if core.stat(dirs[1] .. "/luatest/init.lua") and core.stat(dirs[2] .. "/luatest/core.so") then
      return dirs[1], dirs[2]
    end
  end
  return nil, "no luatest modules beside " .. exe .. " or in " .. prefix .. "/share/lua/" .. v
end

--- The shell lines of `--env`: luatest's directories in front of the user's
--- own search paths, under the names this Lua reads first (LUA_PATH_5_4).
function M.env_exports()
  local lmod, cmod = module_dirs()
  if not lmod then
    return nil, cmod
  end
  local minor = _VERSION:match("^Lua 5%.(%d+)$")
  local suffix = (minor and minor ~= "1") and ("_5_" .. minor) or ""
  local function export(name, ours)
    local theirs = os.getenv(name .. suffix) or os.getenv(name) or ";;"
    local sep = theirs:sub(1, 1) == ";" and "" or ";"
    return format("export %s%s=%s\n", name, suffix, shell_quote(ours .. sep .. theirs))
  end
  return export("LUA_PATH", lmod .. "/?.lua;" .. lmod .. "/?/init.lua")
    .. export("LUA_CPATH", cmod .. "/?.so")
end

function M.main(args)
  -- Each test leaves garbage (an app, a server, a client): collecting when
  -- the heap has grown 20% rather than doubled keeps peak memory near the
  -- live size at no measurable cost in time.
  if _VERSION == "Lua 5.4" then
    collectgarbage("incremental", 120, 200)
  else
    collectgarbage("setpause", 120)
  end
  local cli, perr = M.parse_args(args or {})
  if not cli then
    return usage_error(perr)
  end
  if cli.help then
    io.stdout:write(M.HELP)
    return 0
  end
  if cli.version then
    for _, pair in ipairs(core.versions()) do
      io.stdout:write(pair[1], " ", pair[2], "\n")
    end
    return 0
  end
  if cli.env then
    local exports, err = M.env_exports()
    if not exports then
      io.stderr:write("luatest: --env: ", err, "\n")
      return 2
    end
    io.stdout:write(exports)
    return 0
  end
  if cli.worker then
    return require("luatest.parallel").worker(M)
  end
  local config, cerr = M.load_config(M.CONFIG)
  if not config then
    io.stderr:write("luatest: ", cerr, "\n")
    return 2
  end
  local o = M.resolve(cli, config)
  local reporters = {}
  if o.output == "text" or o.list then
    reporters[1] = require("luatest.report.text").new {
      out = io.stdout,
      verbosity = o.verbosity,
      color = use_color(o),
      tty = core.isatty(1),
      durations = o.durations,
    }
  else
    reporters[1] = require("luatest.report." .. o.output).new { out = io.stdout }
  end
  local junit_file
  if o.junit_xml and not o.list then
    local f, ferr = io.open(o.junit_xml, "w")
    if not f then
      return usage_error("--junit-xml: cannot write " .. tostring(ferr))
    end
    junit_file = f
    reporters[#reporters + 1] = require("luatest.report.junit").new { out = f }
  end
  local restore
  if o.output ~= "text" and not o.list then
    restore = stdout_to_stderr()
  end
  local ok, rc = xpcall(M.run, traceback, o, reporters)
  if restore then
    restore()
  end
  io.stdout:flush()
  if junit_file then
    junit_file:close()
  end
  if not ok then
    io.stderr:write("luatest: internal error: ", tostring(rc), "\n")
    return 2
  end
  return rc
end

return M
