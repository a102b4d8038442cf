--- luatest.parallel: -j N. The parent splits the plan into units (runs of
--- whole files, about four per worker, so that they balance), runs each
--- unit in a worker process (`luatest --worker`, the job as JSON on stdin)
--- from N concurrent tasks, and replays the events each worker wrote (one
--- marked JSON line per event) to the reports, unit after unit in plan
--- order. A worker that dies fails the test it was running; the rest of its
--- unit runs in a new worker, and the other workers go on.
local core = require "luatest.core"
local json = require "luatest.json"

-- Records carry test output and messages, which may hold any bytes: what
-- is not UTF-8 is replaced rather than failing the run.
local function encode(v)
  return json.encode(v, { invalid_utf8 = "replace" })
end

local type, format, pcall, tostring, tonumber, setmetatable, error = type, string.format, pcall, tostring, tonumber,
  setmetatable, error
local concat, insert, remove = table.concat, table.insert, table.remove
local tointeger = require("luatest.compat").tointeger

local M = {}

-- Starts each event line; what a test prints itself passes through.
local MARK = "\30luatest\30"

local SIGNALS = {
  [1] = "SIGHUP", [2] = "SIGINT", [3] = "SIGQUIT", [4] = "SIGILL", [6] = "SIGABRT", [7] = "SIGBUS",
  [8] = "SIGFPE", [9] = "SIGKILL", [11] = "SIGSEGV", [13] = "SIGPIPE", [15] = "SIGTERM",
}

-- ---- the worker's side ---------------------------------------------------------------------

--- decode_job(text): the job a worker reads on stdin, { files = {{path =,
--- items = {indexes in the file's definition order, after --count}, skip =
--- bool}}, timeout =, exitfirst =, maxfail =, count =, seed =, capture = }, or nil and a
--- message.
function M.decode_job(text)
  local ok, job = pcall(json.decode, text or "")
  if not ok or type(job) ~= "table" or type(job.files) ~= "table" then
    return nil, "expected a job (JSON) on stdin: " .. (ok and "no file list" or tostring(job))
  end
  for _, f in ipairs(job.files) do
    if type(f) ~= "table" or type(f.path) ~= "string" or type(f.items) ~= "table"
      or (f.root ~= nil and type(f.root) ~= "string") then
      return nil, "malformed job: each file needs a path and a list of items"
    end
    for i, idx in ipairs(f.items) do
      f.items[i] = tointeger(idx)
    end
  end
  job.seed = job.seed and tointeger(tonumber(job.seed)) or nil
  job.exitfirst = job.exitfirst == true
  job.maxfail = job.maxfail and tointeger(tonumber(job.maxfail)) or nil
  job.count = job.count and tointeger(tonumber(job.count)) or nil
  job.capture = job.capture == "no" and "no" or nil
  job.coverage = job.coverage == true
  return job
end

local INFO_FIELDS = { "message", "where", "source", "locals", "traceback", "task_traceback", "phase", "fixture",
  "assertion", "timeout" }

-- A failure info with only what the report shows (the error value itself
-- does not cross processes).
local function plain_info(info)
  local t = {}
  for _, k in ipairs(INFO_FIELDS) do
    local v = info[k]
    if v ~= nil then
      t[k] = v
    end
  end
  if t.message ~= nil and type(t.message) ~= "string" then
    t.message = tostring(t.message)
  end
  return t
end

local Stream = {}
Stream.__index = Stream

--- stream(out): the worker's event writer: each event is MARK, a JSON
--- object and a newline on `out`, flushed at once so that what was written
--- before a crash reaches the parent. Items are named by (file number in
--- the job, index in the file; 0 for a file's skip entry).
function M.stream(out)
  return setmetatable({ out = out, refs = {}, files = {} }, Stream)
end

function Stream:write(rec)
  self.out:write(MARK, encode(rec), "\n")
  self.out:flush()
end

--- stream:file(fi, path): file number fi of the job is `path`.
function Stream:file(fi, path)
  self.files[path] = fi
end

--- stream:item(item, fi, idx): how records name this item.
function Stream:item(item, fi, idx)
  self.refs[item] = { fi, idx }
end

function Stream:collect_error(fi, message)
  self:write({ e = "collect_error", f = fi, message = tostring(message) })
end

--- stream:event(name, data): one runner event as a record.
function Stream:event(name, data)
  if name == "test_start" then
    local ref = self.refs[data]
    self:write({ e = name, f = ref[1], i = ref[2] })
  elseif name == "test_end" then
    local ref = self.refs[data.test]
    local rec = { e = name, f = ref[1], i = ref[2], status = data.status, duration = data.duration,
      reason = data.reason, outcome = data.outcome, handler_errors = data.handler_errors, stdout = data.stdout,
      stderr = data.stderr, notes = data.notes, http = data.http, http_total = data.http_total }
    if data.failure then
      rec.failure = plain_info(data.failure)
    end
    if data.extra then
      local extra = {}
      for k, info in ipairs(data.extra) do
        extra[k] = plain_info(info)
      end
      rec.extra = extra
    end
    self:write(rec)
  elseif name == "file_start" then
    self:write({ e = name, f = self.files[data.file], count = data.count })
  elseif name == "file_end" then
    self:write({ e = name, f = self.files[data.file] })
  elseif name == "scope_error" then
    self:write({ e = name, scope = data.scope, f = data.file and self.files[data.file],
      failure = plain_info(data.failure), stdout = data.stdout, stderr = data.stderr })
  end
end

--- stream:done(stopped): the worker got to its end (-x stopped it early).
function Stream:done(stopped)
  self:write({ e = "done", stopped = stopped and true or false })
end

--- worker(runner): the --worker mode of -j: reads its job on stdin, runs
--- those tests in that order with runner.run_plan and writes their events
--- to stdout. Returns the exit code: 0 when it got to the end.
function M.worker(runner)
  local job, jerr = M.decode_job(io.stdin:read("*a"))
  if not job then
    io.stderr:write("luatest --worker: ", jerr, "\n")
    return 2
  end
  local stream = M.stream(io.stdout)
  local coverage = job.coverage and require("luatest.coverage")
  if coverage then
    coverage.start()
  end
  local plan = {}
  for fi, f in ipairs(job.files) do
    local fstate, lerr = runner.load_spec(f.path, f.root)
    if fstate then
      fstate = runner.repeat_items(fstate, job.count)
    end
    if not fstate then
      stream:collect_error(fi, lerr)
    else
      stream:file(fi, f.path)
      local items = {}
      for _, idx in ipairs(f.items) do
        local item = fstate.items[idx]
        if item then
          items[#items + 1] = item
          stream:item(item, fi, idx)
        end
      end
      local skip = f.skip and fstate.skip_item ~= nil
      if skip then
        stream:item(fstate.skip_item, fi, 0)
      end
      plan[#plan + 1] = { fstate = fstate, items = items, skip = skip }
    end
  end
  local o = { timeout = job.timeout, exitfirst = job.exitfirst, maxfail = job.maxfail, seed = job.seed,
    capture = job.capture }
  local stopped = runner.run_plan(plan, o, function(name, data)
    stream:event(name, data)
  end)
  if coverage then
    stream:write({ e = "coverage", files = coverage.to_wire(coverage.stop()) })
  end
  stream:done(stopped)
  return 0
end

-- ---- the parent's side ---------------------------------------------------------------------

local function weight(part)
  return #part.items + (part.skip and 1 or 0)
end

-- The plan cut into units of whole files of about total / (4 * jobs) tests.
local function make_units(plan, jobs)
  local total = 0
  for _, e in ipairs(plan) do
    total = total + weight(e)
  end
  local target = math.max(1, math.ceil(total / (jobs * 4)))
  local units, cur, size = {}, nil, 0
  for _, e in ipairs(plan) do
    if not cur then
      cur = { files = {} }
      units[#units + 1] = cur
      size = 0
    end
    cur.files[#cur.files + 1] = { fstate = e.fstate, items = e.items, skip = e.skip }
    size = size + weight(e)
    if size >= target then
      cur = nil
    end
  end
  return units
end

-- The position of each item in its file's definition order (cached).
local function positions(fstate)
  local pos = fstate.positions
  if not pos then
    pos = {}
    for i, item in ipairs(fstate.items) do
      pos[item] = i
    end
    fstate.positions = pos
  end
  return pos
end

-- The job of a unit for its worker; sets unit.budget: the seconds after
-- which the worker is stopped (twice the sum of its tests' limits, for
-- their teardowns, and some slack), 0 when a test has no limit.
local function job_text(unit, o, time_limit, no_limit)
  local files, budget = {}, 10
  for fi, part in ipairs(unit.files) do
    local pos, idx = positions(part.fstate), {}
    for n, item in ipairs(part.items) do
      idx[n] = pos[item]
      local limit = time_limit(item, o)
      budget = (budget and limit < no_limit) and budget + 2 * limit or nil
    end
    files[fi] = { path = part.fstate.path, root = part.fstate.root, items = idx, skip = part.skip and true or false }
  end
  unit.budget = budget or 0
  return encode({ files = files, timeout = o.timeout, exitfirst = o.exitfirst and true or false,
    maxfail = o.maxfail, count = o.count, seed = o.seed and tostring(o.seed) or nil, capture = o.capture,
    coverage = o.coverage and true or nil })
end

-- The worker's stdout as a list of pieces: { text = s } (what the tests
-- printed) or { rec = t } (an event). A record cut short by a crash is
-- dropped.
local function parse(out)
  local pieces, pos = {}, 1
  while true do
    local s, e = out:find(MARK, pos, true)
    if not s then
      if pos <= #out then
        pieces[#pieces + 1] = { text = out:sub(pos) }
      end
      return pieces
    end
    if s > pos then
      pieces[#pieces + 1] = { text = out:sub(pos, s - 1) }
    end
    local nl = out:find("\n", e + 1, true)
    if not nl then
      return pieces
    end
    local ok, rec = pcall(json.decode, out:sub(e + 1, nl - 1))
    if ok and type(rec) == "table" and type(rec.e) == "string" then
      pieces[#pieces + 1] = { rec = rec }
    end
    pos = nl + 1
  end
end

local function exit_text(res, budget)
  local sig = res.signal or 0
  if res.timed_out then
    return format("was stopped after %g s, when the time limits of all its tests had passed (a test busy in Lua "
      .. "code cannot be interrupted)", budget)
  elseif sig ~= 0 then
    return format("was killed by signal %d%s", sig, SIGNALS[sig] and " (" .. SIGNALS[sig] .. ")" or "")
  elseif res.status ~= 0 then
    return format("exited with status %d", res.status)
  end
  return "exited before it got to the end"
end

local function stderr_tail(s)
  if s == nil or s == "" then
    return ""
  end
  local lines = {}
  for line in s:gmatch("[^\n]+") do
    lines[#lines + 1] = line
  end
  local first = math.max(1, #lines - 20)
  return "\nits stderr ended with:\n  " .. concat(lines, "\n  ", first)
end

local function item_of(part, idx)
  if idx == 0 then
    return part.fstate.skip_item
  end
  return part.fstate.items[idx]
end

-- Turns what a worker wrote and how it ended into the events to replay,
-- adding the failure of a crash. Returns the events (a list of { name,
-- data } or { text = s }), how many tests (and scopes) failed, and the
-- unit of the tests it did not get to (nil when none are left).
local function analyse(unit, res)
  local events, failed = {}, 0
  local started, finished = {}, 0
  local running, open_file, done = nil, nil, false
  local function add(name, data)
    events[#events + 1] = { name, data }
  end
  for _, piece in ipairs(parse(res.stdout or "")) do
    local rec = piece.rec
    if not rec then
      events[#events + 1] = { text = piece.text }
    else
      local e = rec.e
      local part = rec.f and unit.files[tointeger(rec.f)]
      if e == "done" then
        done = true
      elseif e == "coverage" then
        add("coverage", rec.files)
      elseif e == "file_start" and part then
        open_file = part
        add("file_start", { file = part.fstate.path, count = tointeger(rec.count) or 0 })
      elseif e == "file_end" and part then
        open_file = nil
        add("file_end", { file = part.fstate.path })
      elseif e == "test_start" and part then
        local item = item_of(part, tointeger(rec.i))
        if item then
          started[item] = true
          running = item
          add("test_start", item)
        end
      elseif e == "test_end" and part then
        local item = item_of(part, tointeger(rec.i))
        if item then
          running = nil
          finished = finished + 1
          if rec.status == "fail" or rec.status == "error" then
            failed = failed + 1
          end
          add("test_end", { test = item, status = rec.status, duration = rec.duration or 0, reason = rec.reason,
            outcome = rec.outcome, failure = rec.failure, extra = rec.extra, handler_errors = rec.handler_errors,
            stdout = rec.stdout, stderr = rec.stderr, notes = rec.notes, http = rec.http,
            http_total = rec.http_total and tointeger(rec.http_total) })
        end
      elseif e == "scope_error" then
        failed = failed + 1
        add("scope_error", { scope = rec.scope, file = part and part.fstate.path or nil, failure = rec.failure or {},
          stdout = rec.stdout, stderr = rec.stderr })
      elseif e == "collect_error" and part then
        failed = failed + 1
        add("scope_error", { scope = "file", file = part.fstate.path, failure = {
          message = "the worker process could not load this file: " .. tostring(rec.message), phase = "setup" } })
      end
    end
  end
  if done and res.status == 0 and (res.signal or 0) == 0 then
    return events, failed, nil
  end
  -- The worker died (or ended badly after its last test).
  failed = failed + 1
  local how, tail = exit_text(res, unit.budget), stderr_tail(res.stderr)
  if running then
    add("test_end", { test = running, status = "error", duration = 0, failure = {
      message = format("the worker process running this test %s%s", how, tail), phase = "call" } })
  else
    add("scope_error", { scope = open_file and "file" or "session", file = open_file and open_file.fstate.path or nil,
      failure = { message = format("a worker process %s%s", how, tail), phase = "teardown" } })
  end
  if open_file then
    add("file_end", { file = open_file.fstate.path })
  end
  if done then
    return events, failed, nil
  end
  -- What it did not get to: again in a new worker when it made progress,
  -- else reported as not run (a worker that dies at once would die again).
  local rest = { files = {} }
  for _, part in ipairs(unit.files) do
    local items = {}
    for _, item in ipairs(part.items) do
      if not started[item] then
        items[#items + 1] = item
      end
    end
    local skip = part.skip and not started[part.fstate.skip_item]
    if #items > 0 or skip then
      rest.files[#rest.files + 1] = { fstate = part.fstate, items = items, skip = skip }
    end
  end
  if #rest.files == 0 then
    return events, failed, nil
  end
  if running or finished > 0 then
    return events, failed, rest
  end
  for _, part in ipairs(rest.files) do
    add("file_start", { file = part.fstate.path, count = #part.items })
    local list = {}
    if part.skip then
      list[1] = part.fstate.skip_item
    end
    for _, item in ipairs(part.items) do
      list[#list + 1] = item
    end
    for _, item in ipairs(list) do
      add("test_start", item)
      add("test_end", { test = item, status = "error", duration = 0, failure = {
        message = format("not run: its worker process %s before any test ran%s", how, tail), phase = "setup" } })
    end
    add("file_end", { file = part.fstate.path })
  end
  return events, failed, nil
end

local function replay(unit, emit)
  for _, ev in ipairs(unit.events) do
    if ev.text then
      io.stdout:write(ev.text)
    else
      emit(ev[1], ev[2])
    end
  end
  if unit.stderr and unit.stderr ~= "" then
    io.stderr:write(unit.stderr)
  end
end

--- run(runner, plan, o, emit, command): runs the plan (see runner.select)
--- in o.jobs worker processes started with `command` (a list: the binary
--- and its arguments), sending the workers' events to emit(name, data).
--- Returns true and whether -x or --maxfail stopped the run, or nil and a
--- message when a worker could not be started.
function M.run(runner, plan, o, emit, command)
  local units = make_units(plan, o.jobs)
  local queue, order = {}, {}
  for i, u in ipairs(units) do
    queue[i], order[i] = u, u
  end
  local state = { stop = false, fatal = nil, next = 1, failed = 0 }
  -- -x is --maxfail 1; the workers already running finish their units.
  local limit = o.exitfirst and 1 or o.maxfail

  -- Replays the finished units at the head of the order.
  local function report_ready()
    while true do
      local u = order[state.next]
      if not u or not u.events then
        return
      end
      replay(u, emit)
      state.next = state.next + 1
    end
  end

  local function worker()
    while not state.stop and not state.fatal do
      local unit = remove(queue, 1)
      if not unit then
        return
      end
      local input = job_text(unit, o, runner.time_limit, runner.NO_LIMIT)
      local res, err = core.exec(command, { input = input, timeout = unit.budget })
      if not res then
        state.fatal = format("cannot start a worker (%s): %s", command[1], tostring(err))
        return
      end
      local events, failed, rest = analyse(unit, res)
      unit.events, unit.stderr = events, res.stderr
      state.failed = state.failed + failed
      if limit and state.failed >= limit then
        state.stop = true
      end
      if rest then
        for i = state.next, #order do
          if order[i] == unit then
            insert(order, i + 1, rest)
            break
          end
        end
        insert(queue, 1, rest)
      end
      report_ready()
    end
  end

  core.run_until_complete(function()
    local tasks = {}
    for i = 1, math.min(o.jobs, #units) do
      tasks[i] = core.spawn(worker)
    end
    for i = 1, #tasks do
      tasks[i]:join()
      local _, ok, err = tasks[i]:result()
      if not ok then
        error(err, 0)
      end
    end
  end)
  if state.fatal then
    return nil, state.fatal
  end
  -- After -x, units that never ran are left out.
  for i = state.next, #order do
    if order[i].events then
      replay(order[i], emit)
    end
  end
  return true, state.stop
end

return M
