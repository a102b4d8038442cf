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
--- `decorated` maps the functions parametrize and test return to what
--- they wrap: { inner = fn, kind = "parametrize" | "test", ... };
--- `running` is the test the runner is running.
local rt = { collector = nil, tracebacks = {}, decorated = setmetatable({}, { __mode = "k" }), running = nil }
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

--- describe(name, fn, opts): a block of `it` tests and hooks; fn runs at
--- once. opts (marks, skip, skipif, xfail, timeout) apply to every test
--- inside: marks add up, the nearest of the others wins.
function M.describe(name, fn, opts)
  if type(name) ~= "string" then
    error("describe: expected a name string as argument 1, got " .. type(name), 2)
  end
  if not is_callable(fn) then
    error("describe: expected a function as argument 2, got " .. type(fn), 2)
  end
  local checked = require("luatest.runner.marks").check("describe", opts, 2)
  collector("describe"):describe(name, fn, checked)
end

--- it(name, fn, opts): a test inside the current describe block (or the
--- file); fn may be what parametrize or test returned. opts: marks (a list
--- of names for -m), skip (a reason), skipif (a boolean, or a function
--- called at collection), xfail (a reason, or {reason =, strict =}),
--- timeout (this test's time limit in seconds, 0 = none, in place of the
--- file's and the command line's).
function M.it(name, fn, opts)
  if type(name) ~= "string" then
    error("it: expected a name string as argument 1, got " .. type(name), 2)
  end
  if type(fn) ~= "function" then
    error("it: expected a function as argument 2, got " .. type(fn), 2)
  end
  local checked = require("luatest.runner.marks").check("it", opts, 2)
  collector("it"):it(name, fn, 3, checked)
end

--- pending(name): a test still to be written, reported as skipped
--- ("pending"); busted's `pending`. Called while a test runs, as busted
--- allows, it stops that test, skipped ("pending: name").
function M.pending(name)
  if not rt.collector and rt.running then
    assertions.skip(name ~= nil and ("pending: " .. tostring(name)) or "pending")
  end
  if type(name) ~= "string" then
    error("pending: expected a name string as argument 1, got " .. type(name), 2)
  end
  collector("pending"):pending(name, 3)
end

-- A function standing for fn, under which the runner finds `spec` (and
-- fn as spec.inner); called, it calls fn. (Its upvalue makes each one a
-- new function, which Lua 5.2 and 5.3 would otherwise share.)
local function decorate(fn, spec)
  spec.inner = fn
  local function wrapper(...)
    return spec.inner(...)
  end
  rt.decorated[wrapper] = spec
  return wrapper
end

--- test(fn, opts): fn as a test with options (marks, skip, skipif, xfail,
--- timeout, as it's), for `test_x = luatest.test(fn, opts)`.
function M.test(fn, opts)
  if type(fn) ~= "function" then
    error("test: expected a function as argument 1, got " .. type(fn), 2)
  end
  local checked = require("luatest.runner.marks").check("test", opts, 2)
  return decorate(fn, { kind = "test", opts = checked or {} })
end

--- parametrize(names, rows, fn, opts): fn run once per row, its
--- parameters named in `names` ("code, text" or a list) taking the row's
--- values (with one name, each row is the value itself) and the others
--- fixtures. Each test's id gains the row's id in brackets: opts.ids (a
--- list, or a function of a value), else each value as text. A
--- parametrize wrapping another gives the product, inner ids first.
function M.parametrize(names, rows, fn, opts)
  local spec = require("luatest.runner.params").spec(names, rows, fn, opts, debug.getinfo(2, "Sl"), 3)
  return decorate(fn, spec)
end
--- timeout(seconds): the time limit of each test of the spec file being
--- loaded (0 = none), in place of the command line's --timeout. A test
--- that runs longer fails, naming where it was waiting.
function M.timeout(seconds)
  require("luatest.runner.marks").check_seconds("timeout", seconds, 2)
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
