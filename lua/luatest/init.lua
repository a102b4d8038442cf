--- luatest: the API of spec files. Fixtures, describe/it blocks and hooks
--- (collected by the runner while it loads a file), skip, the task helpers
--- sleep/spawn/gather, and the assertion helpers. `luatest.web` and
--- `luatest.test_utils` load on first use.
local core = require "luatest.core"
local assertions = require "luatest.assert"

local type, error, select, setmetatable, getmetatable, format = type, error, select, setmetatable, getmetatable, string.format
local traceback = debug.traceback
local compat = require "luatest.compat"
local xpcall, erring_thread = compat.xpcall, compat.erring_thread -- (tasks wait in it, under 5.1 too)

local M = {}

--- State shared with the runner: `collector` receives describe/it/hooks
--- while a file loads; `tracebacks` maps an error value raised in a spawned
--- task to the traceback where it was raised. (A task still running when
--- its test ends is an open object: the runner's leak check reports it.)
local rt = { collector = nil, tracebacks = {} }
M._runtime = rt

for _, name in ipairs { "eq", "same", "match", "contains", "raises", "near", "fail", "repr", "skip" } do
  M[name] = assertions[name]
end

local is_callable = require("luatest.assert").is_callable

--- fixture(name, fn, opts): defines a fixture. `fn`'s parameters name the
--- fixtures it uses; it returns the value and optionally a teardown function.
--- opts.scope: "function" (default), "file" or "session".
function M.fixture(name, fn, opts)
  return require("luatest.fixtures").define(name, fn, opts, 3)
end

local function collector(call)
  local c = rt.collector
  if not c then
    error(call .. ": must be called while luatest loads a spec file", 3)
  end
  return c
end

--- describe(name, fn): a block of `it` tests and hooks; fn runs at once.
function M.describe(name, fn)
  if type(name) ~= "string" then
    error("describe: expected a name string as argument 1, got " .. type(name), 2)
  end
  if not is_callable(fn) then
    error("describe: expected a function as argument 2, got " .. type(fn), 2)
  end
  collector("describe"):describe(name, fn)
end

-- Checks a time limit given to `call`; raises at the caller's caller.
local function check_seconds(call, s)
  if type(s) ~= "number" or s ~= s or s < 0 or s == math.huge then
    error(format("%s: expected a number of seconds >= 0 (0 = no limit), got %s", call,
      type(s) == "number" and tostring(s) or type(s)), 3)
  end
end

--- it(name, fn, opts): a test inside the current describe block (or the
--- file). opts.timeout: this test's time limit in seconds (0 = none), in
--- place of the file's (luatest.timeout) and the command line's.
function M.it(name, fn, opts)
  if type(name) ~= "string" then
    error("it: expected a name string as argument 1, got " .. type(name), 2)
  end
  if type(fn) ~= "function" then
    error("it: expected a function as argument 2, got " .. type(fn), 2)
  end
  local timeout
  if opts ~= nil then
    if type(opts) ~= "table" then
      error("it: expected an options table as argument 3, got " .. type(opts), 2)
    end
    for k in pairs(opts) do
      if k ~= "timeout" then
        error(format("it: unknown option '%s' (known: timeout)", tostring(k)), 2)
      end
    end
    timeout = opts.timeout
    if timeout ~= nil then
      check_seconds("it", timeout)
    end
  end
  collector("it"):it(name, fn, 3, timeout)
end

--- timeout(seconds): the time limit of each test of the spec file being
--- loaded (0 = none), in place of the command line's --timeout. A test
--- that runs longer fails, naming where it was waiting.
function M.timeout(seconds)
  check_seconds("timeout", seconds)
  collector("timeout"):set_timeout(seconds)
end

--- before_each(fn): runs fn before every test of the current block.
function M.before_each(fn)
  if type(fn) ~= "function" then
    error("before_each: expected a function, got " .. type(fn), 2)
  end
  collector("before_each"):hook("before", fn)
end

--- after_each(fn): runs fn after every test of the current block, even a
--- failed one.
function M.after_each(fn)
  if type(fn) ~= "function" then
    error("after_each: expected a function, got " .. type(fn), 2)
  end
  collector("after_each"):hook("after", fn)
end

--- sleep(seconds): waits, letting other tasks run.
function M.sleep(seconds)
  return core.sleep(seconds)
end

-- ---- tasks ------------------------------------------------------------------------------

local Task = {}
Task.__index = Task
Task.__name = "luatest.Task"

local function remember_traceback(err)
  if err ~= nil then
    -- ("", not nil: LuaJIT returns nil for nil; a thread: 5.1's handler
    -- runs after the fact, on the failed coroutine's stack)
    local co = erring_thread()
    rt.tracebacks[err] = co and traceback(co, "", 0) or traceback("", 2)
  end
  return err
end

local function unwrap(ok, ...)
  if not ok then
    error((...), 0)
  end
  return ...
end

local function task_body(fn, ...)
  return unwrap(xpcall(fn, remember_traceback, ...))
end

--- spawn(fn, ...): runs fn(...) as a concurrent task; returns a task with
--- :wait() (its results, or re-raises its error), :done(), :cancel().
function M.spawn(fn, ...)
  if not is_callable(fn) then
    error("spawn: expected a function as argument 1, got " .. type(fn), 2)
  end
  return setmetatable({ _task = core.spawn(task_body, fn, ...) }, Task)
end

-- task:result() gives done, ok, values... (ok false: the error).
local function finish(_, ok, ...)
  if ok then
    return ...
  end
  error((...), 0)
end

--- task:wait(): waits for the task; returns its results or raises its error.
function Task:wait()
  local t = self._task
  t:join()
  return finish(t:result())
end

--- task:done(): true when the task has finished (or was cancelled).
function Task:done()
  return (self._task:result())
end

--- task:cancel(): stops the task where it waits; true when it was cancelled.
function Task:cancel()
  return self._task:cancel()
end

--- task:result(): done[, ok, values...] without waiting.
function Task:result()
  return self._task:result()
end

--- gather(fn1, fn2, ...): runs the functions concurrently and returns the
--- list of their (first) results in order, a plain list (a nil result is a
--- hole in it). The first error raised cancels the others and is raised
--- again here.
function M.gather(...)
  local n = select("#", ...)
  local fns = { ... }
  for i = 1, n do
    if not is_callable(fns[i]) then
      error(format("gather: argument %d is not a function (got %s)", i, type(fns[i])), 2)
    end
  end
  local state = { results = {}, tasks = {}, failed = false, err = nil }
  local tasks = state.tasks
  local function run(i)
    local ok, res = xpcall(fns[i], remember_traceback)
    if ok then
      state.results[i] = res
      return
    end
    if not state.failed then
      state.failed, state.err = true, res
      for j = 1, n do
        if j ~= i then
          tasks[j]:cancel()
        end
      end
    end
  end
  for i = 1, n do
    tasks[i] = core.spawn(run, i)
  end
  for i = 1, n do
    tasks[i]:join()
  end
  if state.failed then
    error(state.err, 0)
  end
  return state.results
end

-- ---- lazy modules -------------------------------------------------------------------------

local lazy = { web = "luatest.web", test_utils = "luatest.test_utils" }

return setmetatable(M, {
  __index = function(t, k)
    local modname = lazy[k]
    if modname then
      local mod = require(modname)
      rawset(t, k, mod)
      return mod
    end
    return nil
  end,
})
