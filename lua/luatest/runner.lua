--- luatest.runner: the command line. Takes the options (.luatest.lua, then
--- the arguments), finds the spec files, loads each in its own environment
--- collecting its tests in definition order, selects and orders them (node
--- ids, -k, --lf, --shard (by durations), --shuffle, --count), runs every test in one task
--- with its fixtures, hooks, teardowns and time limit (stopping at -x or
--- --maxfail), checks that it left nothing open, and emits events for the
--- reports (report/*.lua). With -j N the files run in worker processes
--- (luatest.parallel) whose events are replayed here.
--- The steps live in runner/: cli.lua (options), discover.lua (spec files),
--- collect.lua (loading, the test tree, selection), execute.lua (running),
--- failure.lua (failure records); this module composes them.
local core = require "luatest.core"
local cli = require "luatest.runner.cli"
local discover = require "luatest.runner.discover"
local collect = require "luatest.runner.collect"
local execute = require "luatest.runner.execute"
local failure = require "luatest.runner.failure"
local base = require "luatest.report.base"

local compat = require "luatest.compat"

local format, tostring, select, xpcall, setmetatable = string.format, tostring, select, compat.xpcall, setmetatable
local concat = table.concat
local traceback = debug.traceback
local hrtime, count = core.hrtime, base.count

local M = {}

-- The public functions of the steps, under the names they always had.
M.CONFIG, M.HELP, M.FLAGS = cli.CONFIG, cli.HELP, cli.FLAGS
M.parse_args, M.load_config, M.resolve, M.env_exports = cli.parse_args, cli.load_config, cli.resolve, cli.env_exports
M.discover = discover.discover
M.handler = failure.handler
M.load_spec, M.select, M.repeat_items = collect.load_spec, collect.select, collect.repeat_items
M.NO_LIMIT, M.time_limit, M.run_plan = execute.NO_LIMIT, execute.time_limit, execute.run_plan

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

-- --shard's part (K/N, or auto: from the CI's variables) and the durations
-- it balances by: { k, n, source = }, the durations (or nil: by test
-- count) and where they come from; or nil and a message.
local function shard_of(o)
  local durations = require "luatest.durations"
  local shard, err = o.shard, nil
  if shard.auto then
    shard, err = durations.from_env()
    if not shard then
      return nil, err
    end
  end
  local set, from
  if o.durations_file then
    set, err = durations.read(o.durations_file)
    if set == nil then
      return nil, "--durations-file: " .. err
    end
    from = o.durations_file
  else
    set = require("luatest.cache").read_durations()
    from = ".luatest_cache/durations"
  end
  return shard, set or nil, from
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

-- The current directory, for messages (the shell's pwd checks $PWD
-- against "." before it trusts it).
local function cwd()
  local p = io.popen("pwd")
  local dir = p and p:read("*l")
  if p then
    p:close()
  end
  return dir or "."
end

local run_tests

--- run(o, reporters): runs the collected files with the resolved options o,
--- sending events to each reporter (a table of event handlers: run_start,
--- file_start, test_start, test_end, scope_error, file_end, collect_error,
--- list_end, run_end); returns the exit code. Records the failures for --lf.
--- With o.coverage, counts the lines run (here, or in the -j workers) and
--- writes LuaCov's files (luatest.coverage).
function M.run(o, reporters)
  if not o.coverage or o.list then
    return run_tests(o, reporters)
  end
  local coverage = require "luatest.coverage"
  local counts = {}
  local opts = {}
  for k, v in pairs(o) do
    opts[k] = v
  end
  function opts.on_coverage(wire)
    coverage.merge(counts, coverage.from_wire(wire))
  end
  -- With -j the workers count, each loading its files itself: counting
  -- the parent's collection too would count their top level twice.
  local here = o.jobs <= 1
  if here then
    coverage.start()
  end
  local ok, rc = xpcall(run_tests, traceback, opts, reporters)
  if here then
    coverage.merge(counts, coverage.stop())
  end
  if not ok then
    error(rc, 0)
  end
  local note, err = coverage.write(counts)
  io.stderr:write("luatest: --coverage: ", note or err, "\n")
  if not note and rc == 0 then
    rc = 2
  end
  return rc
end

function run_tests(o, reporters)
  local counts = base.new_counts()
  counts.deselected, counts.files, counts.total, counts.ran = 0, 0, 0, 0
  counts.exitfirst, counts.maxfail = o.exitfirst, o.maxfail
  local tracker = not o.list and require("luatest.cache").tracker() or nil
  if tracker then
    tracker.shard_run = o.shard and true or nil
    if o.store_durations then
      tracker.store_durations = o.durations_file or require("luatest.durations").DEFAULT_FILE
    end
  end
  -- In the luatest binary, a serial run that dies of a signal (a C handler)
  -- still prints the test it was in and the closing line; -j workers are
  -- reported by the parent instead.
  local binary = package.loaded["luatest.binary"]
  local crash_note = binary and o.jobs <= 1 and not o.list and binary.crash_note or nil
  local function emit(name, data)
    if name == "coverage" then
      -- a -j worker's counts (see luatest.parallel)
      if o.on_coverage then
        o.on_coverage(data)
      end
      return
    end
    if crash_note and name == "test_start" then
      -- (the closing line of base.summary, should the test crash)
      crash_note(data.id, counts.passed, counts.failed + 1, counts.skipped)
    else
      count(counts, name, data)
      if name == "test_end" then
        counts.ran = counts.ran + 1
      end
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
    require("luatest.runner.compiled").prune()
    if tracker then
      local ok, err = tracker:save()
      if not ok then
        io.stderr:write("luatest: ", err, "\n")
      end
    end
    return rc
  end

  local paths = o.paths
  if #paths == 0 then
    -- The default: spec/ of the current directory, which must be there.
    if core.stat("spec") ~= "dir" then
      return usage_error(format("no spec/ directory in %s; give files or directories to run", cwd()))
    end
    paths = { "spec/" }
  end
  local keep_ok, kerr = collect.keyword_test(o.keywords)
  if not keep_ok then
    return usage_error(kerr)
  end
  local shard, shard_durations, durations_from
  if o.shard then
    shard, shard_durations, durations_from = shard_of(o)
    if not shard then
      return usage_error(shard_durations)
    end
  elseif o.store_durations and o.durations_file then
    -- (a file that is not durations is not overwritten)
    local set, derr = require("luatest.durations").read(o.durations_file)
    if set == nil then
      return usage_error("--durations-file: " .. derr)
    end
  end
  -- Node ids (FILE::NAME) name their file for discovery, and select in it,
  -- unless a plain path names that file too.
  local targets, ids = collect.split_ids(paths)
  local files, roots = M.discover(targets)
  local derr = not files and roots or nil
  if not files then
    return usage_error(derr)
  end
  local whole = {}
  if #ids > 0 then
    local plain = {}
    for i, p in ipairs(paths) do
      if targets[i] == p then
        plain[#plain + 1] = p
      end
    end
    for _, f in ipairs(M.discover(plain) or {}) do
      whole[f] = true
    end
  end

  -- Collection: every file is loaded before any test runs.
  local specs, load_errors = {}, 0
  for _, path in ipairs(files) do
    local fstate, lerr = M.load_spec(path, roots[path])
    if not fstate then
      load_errors = load_errors + 1
      emit("collect_error", { file = path, message = lerr })
    else
      specs[#specs + 1] = M.repeat_items(fstate, o.count)
      if tracker then
        tracker:loaded(path)
      end
    end
  end
  local plan, sel = M.select(specs, setmetatable({ ids = ids, whole = whole, shard = shard,
    shard_durations = shard_durations, durations_from = durations_from }, { __index = o }))
  if load_errors == 0 and #sel.unmatched > 0 then
    return usage_error(format("no test matches %s", concat(sel.unmatched, ", ")))
  end

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
    -- (This run's plan is its own: the tests' functions go once they ran.)
    counts.stopped = M.run_plan(plan, setmetatable({ release_tests = true }, { __index = o }), emit) or nil
  end
  counts.duration = hrtime() - t0
  if counts.stopped then
    counts.not_run = counts.total - counts.ran
  end
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

--- main(args, override): the command line (args = list of strings), with
--- the options in override (a table, optional) replacing those it sets;
--- returns the exit code.
function M.main(args, override)
  -- Each test leaves garbage (an app, a server, a client): collecting when
  -- the heap has grown 20% rather than doubled keeps peak memory near the
  -- live size at no measurable cost in time.
  if _VERSION == "Lua 5.4" then
    collectgarbage("incremental", 120, 200)
  else
    collectgarbage("setpause", 120)
  end
  local given, perr = M.parse_args(args or {})
  if not given then
    return usage_error(perr)
  end
  if given.help then
    io.stdout:write(M.HELP)
    return 0
  end
  if given.version then
    for _, pair in ipairs(core.versions()) do
      io.stdout:write(pair[1], " ", pair[2], "\n")
    end
    return 0
  end
  if given.env then
    local exports, err = M.env_exports()
    if not exports then
      io.stderr:write("luatest: --env: ", err, "\n")
      return 2
    end
    io.stdout:write(exports)
    return 0
  end
  if given.worker then
    return require("luatest.parallel").worker(M)
  end
  if given.merge_junit then
    local ok, err = require("luatest.report.junit").merge(given.merge_junit, given.paths)
    if not ok then
      return usage_error("--merge-junit: " .. err)
    end
    return 0
  end
  local config, cerr = M.load_config(M.CONFIG)
  if not config then
    io.stderr:write("luatest: ", cerr, "\n")
    return 2
  end
  local o = M.resolve(given, config)
  for k, v in pairs(override or {}) do
    o[k] = v
  end
  if o.watch and not o.list then
    return M.watch(o, args)
  end
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

--- watch(o, args): --watch: runs the command line args, then again after
--- each change below the paths (see luatest.runner.watch), each time with
--- the options read anew.
function M.watch(o, args)
  local paths = o.paths
  if #paths == 0 then
    if core.stat("spec") ~= "dir" then
      return M.main(args, { watch = false })
    end
    paths = { "spec/" }
  end
  local roots = collect.split_ids(paths)
  local out = o.output == "text" and io.stdout or io.stderr
  return require("luatest.runner.watch").run(roots, function(files)
    M.main(args, { watch = false, paths = files or paths })
  end, out)
end

return M
