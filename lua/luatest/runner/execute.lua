--- luatest.runner.execute: running a plan in this process: each test in
--- one task with its fixtures, hooks, teardowns and time limit, the check
--- that it left nothing open, the file and session scopes torn down, and
--- the events (test_start, test_end, scope_error, file_start, file_end) for
--- the reports.
local core = require "luatest.core"
local fixtures = require "luatest.fixtures"
local assertions = require "luatest.assert"
local compat = require "luatest.compat"
local failure = require "luatest.runner.failure"
local capture = require "luatest.runner.capture"

-- (compat's pcall and xpcall: a task may wait inside them under Lua 5.1 too.)
local type, format, pcall, xpcall, next = type, string.format, compat.pcall, compat.xpcall, next
local unpack, sort, concat = compat.unpack, table.sort, table.concat
local run_until_complete, run_with_timeout, open_objects, hrtime = core.run_until_complete,
  core.run_with_timeout, core.open_objects, core.hrtime
local error_text = assertions.error_text
local handler, record, record_teardown, stopped_info = failure.handler, failure.record, failure.record_teardown,
  failure.stopped_info

local rt = require("luatest")._runtime

local function run_task(fn, ...)
  return run_until_complete(fn, ...)
end

local M = {}

local EMPTY_ARGS = { n = 0 }

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
--- nearest timeout option of it(), describe() or luatest.test), its file's
--- (luatest.timeout), or o.timeout; NO_LIMIT
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
  local block = item.block or (kind == "function" and item.file.hooks)
  if kind == "function" and not block then
    call_with_fixtures(res, ctx, item.fn, item.name)
  elseif block then
    -- (A global test_* function has its conftest.lua files' hooks.)
    local chain = hook_chain(block)
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
      -- (A parametrized method gets its row's values after self.)
      local args = item.case_args or EMPTY_ARGS
      local ok2, info = xpcall(args.n > 0 and item.fn or inst[item.method], handler, inst, unpack(args, 1, args.n))
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
  local block = item.block or (item.kind == "function" and item.file.hooks)
  if block then
    run_after_hooks(res, ctx, hook_chain(block), progress)
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

local function take_handler_errors()
  local web = package.loaded["luatest.web"]
  if not web then
    return nil
  end
  -- (none, the usual case: nothing to take, no list made)
  local pending = type(web) == "table" and rawget(web, "_handler_errors")
  if type(pending) == "table" and #pending == 0 then
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

-- The HTTP exchanges of the test that just ran, for its report when it
-- failed (built only then); forgotten either way.
local function take_exchanges(res)
  local ex = package.loaded["luatest.exchanges"]
  if not ex then
    return
  end
  if res.status == "fail" or res.status == "error" then
    res.http, res.http_total = ex.report()
  end
  ex.reset()
end

-- An xfail test's result: a failure counts as a skip ("xfail: reason"), a
-- pass as a pass reported XPASS, or as a failure when strict.
local function apply_xfail(res, xfail)
  local reason = xfail.reason
  if res.status == "fail" or res.status == "error" then
    res.status, res.outcome = "skip", "xfail"
    res.reason = reason ~= "" and ("xfail: " .. reason) or "xfail"
  elseif res.status == "pass" then
    if xfail.strict then
      res.status = "fail"
      res.failure = { message = "[XPASS(strict)] " .. reason, assertion = true, phase = "call" }
    else
      res.outcome, res.reason = "xpass", reason
    end
  end
end

-- Runs what the built-in fixtures left for after the test (rt.after_test:
-- functions of its result, such as removing a passing test's tmp_path).
local function after_test(res)
  local list = rt.after_test
  if not list or #list == 0 then
    return
  end
  rt.after_test = nil
  for i = #list, 1, -1 do
    local ok, err = pcall(list[i], res)
    if not ok then
      record(res, { value = err, message = error_text(err) }, "teardown")
    end
  end
end

local function run_test(item, ctx_file, session, emit, o, cap)
  emit("test_start", item)
  if item.skip_reason then
    -- Skipped at collection: no fixture, hook or body runs.
    local res = { test = item, status = "skip", reason = item.skip_reason, duration = 0 }
    emit("test_end", res)
    return res
  end
  -- From here to test_end what the test writes is its own (-s: live).
  capture.current = cap
  if o.capture ~= "no" then
    cap:start()
  end
  take_handler_errors()
  local ex = package.loaded["luatest.exchanges"]
  if ex then
    ex.reset()
  end
  local before = open_objects()
  -- (the fields every test's result gets, in the constructor: the table
  -- is made with room for them, not grown twice)
  local res = { test = item, status = "pass", duration = nil, handler_errors = nil }
  local ctx = fixtures.new_context(ctx_file, session, item.file.layer)
  ctx.args, ctx.fparams = item.call_args, item.fparams
  local limit = M.time_limit(item, o)
  local progress = {}
  if o.seed then
    math.randomseed(o.seed)
  end
  -- run_with_timeout counts the limit from now, even after a test blocked
  -- outside the loop (io.popen).
  local t0 = hrtime()
  rt.running = item
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
  rt.running = nil
  check_leaks(res, before)
  if next(rt.tracebacks) then
    rt.tracebacks = {}
  end
  res.handler_errors = take_handler_errors()
  after_test(res)
  if item.xfail then
    apply_xfail(res, item.xfail)
  end
  cap:stop()
  capture.current = nil
  local out, err = cap:readouterr()
  if res.status == "fail" or res.status == "error" then
    res.stdout = out ~= "" and out or nil
    res.stderr = err ~= "" and err or nil
  end
  take_exchanges(res)
  res.duration = hrtime() - t0
  emit("test_end", res)
  return res
end

-- Tears down a file or session scope, within the run's time limit (each
-- teardown that hangs is abandoned and the next one runs); returns the
-- list of failures.
local function close_scope_captured(scope, label, o)
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

-- close_scope_captured, with what the teardowns wrote kept (as a test's
-- output is) on the first failure (stdout, stderr).
local function close_scope(scope, label, o, cap)
  if o.capture ~= "no" then
    cap:start()
  end
  local failures = close_scope_captured(scope, label, o)
  cap:stop()
  local out, err = cap:readouterr()
  if failures[1] then
    failures[1].stdout = out ~= "" and out or nil
    failures[1].stderr = err ~= "" and err or nil
  end
  return failures
end

-- Forgets the functions of test items that ran (and of those that were
-- not selected): no later entry of the plan has them.
local function release(list)
  for i = 1, #list do
    local item = list[i]
    if item.kind == "function" or item.kind == "it" then
      item.fn = nil
    end
  end
end

-- Plugins define built-in fixtures; luatest.pytest_plugin is pytest-aiohttp's.
local PLUGINS = { "luatest.pytest_plugin", "luatest.builtin_plugin" }

local function load_plugins()
  for _, name in ipairs(PLUGINS) do
    require(name)
  end
end

--- run_plan(plan, o, emit): runs a plan (a list of { fstate =, items =,
--- skip = } in order) in this process with the options o (timeout,
--- exitfirst, maxfail, seed, capture ("no": off), sending the events to
--- emit(name, data); a failed test's result carries what it wrote (stdout,
--- stderr).
--- Returns true when -x or --maxfail stopped it.
function M.run_plan(plan, o, emit)
  load_plugins()
  -- While tests run, what each allocates (an app, a server, a client) dies
  -- with it, and what collection built lives to the end: Lua 5.4's
  -- generational mode collects the former without traversing the latter
  -- every cycle, so a test's cost grows less with the suite's size. The
  -- mode there was before (with its settings) comes back after.
  local previous = _VERSION == "Lua 5.4" and collectgarbage("generational", 10, 20) or nil
  local cap = capture.new()
  local session = fixtures.new_scope("session")
  local stop = false
  -- -x is --maxfail 1.
  local limit, failed = o.exitfirst and 1 or o.maxfail, 0
  -- With o.release_tests, the functions of a file's tests are let go after
  -- its last entry ran: what the reports keep of a test is its name, id,
  -- file and line, and the rest of the run has the memory (and the
  -- collector less to traverse).
  local last
  if o.release_tests then
    last = {}
    for i, entry in ipairs(plan) do
      last[entry.fstate] = i
    end
  end
  for index, entry in ipairs(plan) do
    local fstate, items = entry.fstate, entry.items
    emit("file_start", { file = fstate.path, count = #items })
    if entry.skip then
      local item = fstate.skip_item
      emit("test_start", item)
      emit("test_end", { test = item, status = "skip", reason = fstate.skipped, duration = 0 })
    end
    local scope = fixtures.new_scope("file")
    for i = 1, #items do
      local res = run_test(items[i], scope, session, emit, o, cap)
      if res.status == "fail" or res.status == "error" then
        failed = failed + 1
        if limit and failed >= limit then
          stop = true
          break
        end
      end
    end
    for _, info in ipairs(close_scope(scope, "file", o, cap)) do
      failed = failed + 1
      emit("scope_error", { scope = "file", file = fstate.path, failure = info, stdout = info.stdout,
        stderr = info.stderr })
    end
    if limit and failed >= limit then
      stop = true
    end
    emit("file_end", { file = fstate.path })
    if last and last[fstate] == index then
      release(fstate.items)
      release(items)
    end
    if stop then
      break
    end
  end
  for _, info in ipairs(close_scope(session, "session", o, cap)) do
    emit("scope_error", { scope = "session", failure = info, stdout = info.stdout, stderr = info.stderr })
  end
  if previous == "incremental" then
    collectgarbage("incremental")
  end
  return stop
end

return M
