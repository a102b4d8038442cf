--- luatest.runner.cli: the command line: the options, their checks (each
--- error names the flag), --help, .luatest.lua defaults and how they combine
--- with the arguments, and the --env lines.
local core = require "luatest.core"
local compat = require "luatest.compat"

local type, format, tonumber, tostring = type, string.format, tonumber, tostring
local tointeger, huge = compat.tointeger, math.huge
local hrtime = core.hrtime

local M = {}

--- The file of defaults read from the current directory.
M.CONFIG = ".luatest.lua"

M.HELP = [[
usage: luatest [options] [paths...]
       luatest --merge-junit OUT IN...

Runs the tests of every *_spec.lua and test_*.lua file below the paths
(default: spec/). A file named on the command line is loaded whatever its
name. Tests are global test_* functions, it() blocks inside describe(), and
the test_* methods of AioHTTPTestCase classes, in definition order.

A path may be a test id, as the reports print them: FILE::test_x,
"FILE::outer > inner" (every test of that describe block), FILE::Case
(every method of an AioHTTPTestCase), "FILE::test_x[200-OK]" (one row of
a parametrized test; FILE::test_x is every row); an id that matches no
test is bad usage.

A test may be parametrized (test_x = luatest.parametrize("code, text",
rows, fn)), use fixtures with params, and take options (it(name, fn,
opts), describe(name, fn, opts), test_x = luatest.test(fn, opts)): marks
= {...} for -m, skip = reason, skipif = a boolean or a function called at
collection, xfail = reason or {reason =, strict =}, timeout = S.

A conftest.lua in a path's directory or below it is loaded first; its
fixtures and before_each/after_each hooks apply to the files below it. A
file sees the fixtures it defines, those of the modules it requires and of
its conftest.lua files, and the built-ins (tmp_path, monkeypatch, capture,
loop, aiohttp_client...). While a file loads, the path's directory and its
own are on package.path.

selection and order:
  -k PATTERN        run only the tests whose id (path::name) contains
                    PATTERN, ignoring case; repeat it to keep tests matching
                    any pattern. A PATTERN may combine words with and, or,
                    not and parentheses ("http and not slow"); each word (or
                    run of words) is such a substring
  -m MARKEXPR       run only the tests whose marks match MARKEXPR: mark
                    names combined with and, or, not and parentheses
                    ("slow and not net"), each matching a mark exactly;
                    the last -m given counts
  --lf, --last-failed
                    run only the tests that failed in the last run (all of
                    them when none did); the state is kept in .luatest_cache/
                    of the current directory
  --shard K/N       run the K-th of N parts of the suite (1-based): whole
                    files, the same split on every machine given the same
                    durations: balanced by the test durations of
                    --durations-file, or else of the last runs without
                    --shard (kept in .luatest_cache/durations); a test
                    without one weighs the average; with none at all, by
                    test count
  --shard auto      take K/N from the CI's parallel-job variables, the
                    first pair set of CI_NODE_INDEX/CI_NODE_TOTAL (GitLab,
                    1-based), CIRCLE_NODE_INDEX/CIRCLE_NODE_TOTAL (CircleCI)
                    and BUILDKITE_PARALLEL_JOB/BUILDKITE_PARALLEL_JOB_COUNT
                    (Buildkite, both 0-based); none set is bad usage
  --durations-file F
                    the test durations --shard balances by (a JSON object
                    mapping test id to seconds, pytest-split's format); a
                    missing file is no durations. Give every CI job the
                    same file, so that they all split alike
  --store-durations after the run, merge the durations of the tests that
                    ran into --durations-file F, or .test_durations (best
                    from a run of the whole suite: the shards of one split
                    must all read the same durations)
  --shuffle         run the files, and the tests of each file, in a random
                    order; the seed is printed so that the order can be
                    replayed
  --seed N          shuffle with this seed (implies --shuffle)
  -x, --exitfirst   stop after the first failed test
  --maxfail N       stop after N failed tests (failures and errors); the
                    rest are reported as not run
  --count N         run each selected test N times (ids gain [1-N]...[N-N])
  --list            print the ids of the selected tests, one a line, and exit

running:
  --timeout S       fail a test still running after S seconds (default 30,
                    0 = no limit); the report shows where it was waiting.
                    A spec file sets its own with luatest.timeout(S), one
                    test with it(name, fn, {timeout = S})
  -j N, --jobs N    run the files in N worker processes; a worker that dies
                    fails the test it was running and the others go on
  -s, --capture=no  let the tests' output through as it is written; by
                    default what a test writes with print, io.write,
                    io.stdout and io.stderr (its hooks and fixtures
                    included) is kept and shown only with its failure
  --capture METHOD  sys (the default: capture as above) or no (as -s)

output:
  -v, --verbose     one line per test with its time, skip and xfail reasons
                    (XFAIL: an xfail test that failed, counted as skipped;
                    XPASS: one that passed) and the tracebacks of handler
                    errors
  -q, --quiet       progress characters and failures only
  --output FORMAT   the report on stdout: text (default), tap (TAP 13),
                    junit (JUnit XML) or json (one JSON document)
  --junit-xml FILE  also write a JUnit XML report to FILE
  --durations N     list the N slowest tests (0: all of them) after the run
  --no-color        no colours (they are used only when stdout is a terminal
                    and NO_COLOR is unset)

coverage and watching:
  --coverage        count the lines of the Lua files the tests ran (in every
                    task and coroutine, in every -j worker) and write
                    luacov.stats.out (LuaCov's format) and luacov.report.out
                    in the current directory; luatest's own modules are not
                    counted. The report is LuaCov's when LuaCov is
                    installed, else one of the same layout
  --watch           run the tests, then again each time a Lua file below
                    the paths changes (100 ms after the last event of a
                    save): only the changed spec files, or all of them when
                    another Lua file (a helper, a conftest.lua) changed;
                    each run ends with its closing line. Ctrl-C (SIGINT) or
                    SIGTERM between runs exits with status 0

other:
  --env             print the LUA_PATH_5_4 and LUA_CPATH_5_4 exports that let
                    a stock lua5.4 load the luatest modules: their
                    directories in front of the paths already set
  --merge-junit OUT IN...
                    write one JUnit XML document to OUT holding the test
                    suites of the JUnit files IN (the reports of shards),
                    with their totals; nothing is run
  --version         print the versions of luatest, its Lua, libuv, llhttp and
                    libwebsockets
  -h, --help        print this help
  --worker          internal: the worker process of -j (reads its job on
                    stdin)

A failing test's report lists the last ten HTTP exchanges it made (through
TestClient, ClientSession and ws_connect): method, URL, status, headers
with credentials redacted, the first 200 bytes of both bodies.

Defaults may be set in .luatest.lua in the current directory, a Lua file
returning a table with any of the keys paths, keywords (or k), markexpr,
lf, shard, durations_file, store_durations, shuffle, seed, exitfirst,
maxfail, count, timeout, jobs, no_capture (-s), capture, verbose, quiet,
output, junit_xml, durations, no_color, coverage, e.g.
return {paths = {"spec/"}, timeout = 5, jobs = 4};
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

local check_count, check_jobs, check_positive = whole_at_least(0), whole_at_least(1), whole_at_least(1)

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

local function check_capture(v)
  if v == "no" or v == "sys" then
    return v
  end
  return nil, "expected sys or no"
end

local function check_file(v)
  if type(v) ~= "string" or v == "" then
    return nil, "expected a file name"
  end
  return v
end

-- ---- -k expressions ---------------------------------------------------------------------------

local OPERATORS = { ["and"] = true, ["or"] = true, ["not"] = true }

-- The tokens of a -k pattern: ( ) and or not, and words (anything else
-- between spaces and parentheses), with their positions.
local function tokens_of(text)
  local list, i, n = {}, 1, #text
  while i <= n do
    local c = text:sub(i, i)
    if c:find("^%s") then
      i = i + 1
    elseif c == "(" or c == ")" then
      list[#list + 1] = { kind = c, s = i, e = i }
      i = i + 1
    else
      local s, e = text:find("^[^%s()]+", i)
      local w = text:sub(s, e)
      list[#list + 1] = { kind = OPERATORS[w] and w or "word", s = s, e = e }
      i = e + 1
    end
  end
  return list
end

local function substring(needle)
  return function(id)
    return id:find(needle, 1, true) ~= nil
  end
end

-- The test of an expression of words combined with and, or, not and
-- parentheses (not binding tightest, then and, then or): leaf(text) makes
-- the test of a word, or of a run of words when `runs` is true.
local function compile(pattern, leaf, runs)
  local toks = tokens_of(pattern)
  local pos = 1
  local function where()
    local prev = toks[pos - 1]
    return prev and format("after '%s'", pattern:sub(prev.s, prev.e)) or "at the start"
  end
  local expr
  local function factor()
    local t = toks[pos]
    if t and t.kind == "not" then
      pos = pos + 1
      local f, err = factor()
      if not f then
        return nil, err
      end
      return function(id)
        return not f(id)
      end
    elseif t and t.kind == "(" then
      pos = pos + 1
      local e, err = expr()
      if not e then
        return nil, err
      end
      if not toks[pos] or toks[pos].kind ~= ")" then
        return nil, format("the '(' at column %d is not closed", t.s)
      end
      pos = pos + 1
      return e
    elseif t and t.kind == "word" then
      local last = t
      pos = pos + 1
      while runs and toks[pos] and toks[pos].kind == "word" do
        last = toks[pos]
        pos = pos + 1
      end
      return leaf(pattern:sub(t.s, last.e))
    end
    return nil, format("expected a word, 'not' or '(' %s", where())
  end
  local function term()
    local left, err = factor()
    while left and toks[pos] and toks[pos].kind == "and" do
      pos = pos + 1
      local right
      right, err = factor()
      if not right then
        return nil, err
      end
      local a = left
      left = function(id)
        return a(id) and right(id)
      end
    end
    return left, err
  end
  function expr()
    local left, err = term()
    while left and toks[pos] and toks[pos].kind == "or" do
      pos = pos + 1
      local right
      right, err = term()
      if not right then
        return nil, err
      end
      local a = left
      left = function(id)
        return a(id) or right(id)
      end
    end
    return left, err
  end
  local match, err = expr()
  if not match then
    return nil, err
  end
  if toks[pos] then
    local t = toks[pos]
    return nil, format("unexpected '%s' at column %d", pattern:sub(t.s, t.e), t.s)
  end
  return match
end

--- keyword_matcher(pattern): the test of a -k pattern, a function of a
--- lower-case test id that says whether the id is kept; or nil and why
--- not. A pattern without and, or, not and parentheses is one substring
--- of the id, ignoring case; otherwise those combine runs of words (each
--- run a substring, as one), with not binding tightest, then and, then or.
function M.keyword_matcher(pattern)
  if type(pattern) ~= "string" or pattern == "" then
    return nil, "needs a non-empty pattern"
  end
  for _, t in ipairs(tokens_of(pattern)) do
    if t.kind ~= "word" then
      return compile(pattern, function(text)
        return substring(text:lower())
      end, true)
    end
  end
  return substring(pattern:lower())
end

--- mark_matcher(pattern): the test of a -m expression, a function of a
--- test's set of marks (name -> true); or nil and why not. Mark names
--- combine with and, or, not and parentheses as -k's words do, each one
--- matching a mark exactly.
function M.mark_matcher(pattern)
  if type(pattern) ~= "string" or pattern == "" then
    return nil, "needs a non-empty expression"
  end
  return compile(pattern, function(name)
    return function(marks)
      return marks[name] == true
    end
  end, false)
end

local function check_markexpr(v)
  local ok, why = M.mark_matcher(v)
  if not ok then
    return nil, why
  end
  return v
end

local function check_pattern(v)
  local ok, why = M.keyword_matcher(v)
  if not ok then
    return nil, why
  end
  return v
end

local function check_shard(v)
  if v == "auto" then
    return { auto = true }
  end
  local k, n
  if type(v) == "string" then
    k, n = v:match("^(%d+)/(%d+)$")
    k, n = to_integer(k), to_integer(n)
  end
  if not k or not n or n < 1 or k < 1 or k > n then
    return nil, "expected K/N with 1 <= K <= N, or auto"
  end
  return { k, n }
end

-- The options: key in the options table, flags, the name of the value if
-- one follows, its check, and whether .luatest.lua may set it.
local OPTIONS = {
  { key = "keywords", flags = { "-k" }, arg = "PATTERN", check = check_pattern, list = true, config = true },
  { key = "markexpr", flags = { "-m" }, arg = "MARKEXPR", check = check_markexpr, config = true },
  { key = "lf", flags = { "--lf", "--last-failed" }, config = true },
  { key = "shard", flags = { "--shard" }, arg = "K/N", check = check_shard, config = true },
  { key = "durations_file", flags = { "--durations-file" }, arg = "F", check = check_file, config = true },
  { key = "store_durations", flags = { "--store-durations" }, config = true },
  { key = "shuffle", flags = { "--shuffle" }, config = true },
  { key = "seed", flags = { "--seed" }, arg = "N", check = check_count, config = true },
  { key = "exitfirst", flags = { "-x", "--exitfirst" }, config = true },
  { key = "maxfail", flags = { "--maxfail" }, arg = "N", check = check_positive, config = true },
  { key = "count", flags = { "--count" }, arg = "N", check = check_positive, config = true },
  { key = "list", flags = { "--list" } },
  { key = "timeout", flags = { "--timeout" }, arg = "S", check = check_seconds, config = true },
  { key = "jobs", flags = { "-j", "--jobs" }, arg = "N", check = check_jobs, config = true },
  { key = "no_capture", flags = { "-s" }, config = true },
  { key = "capture", flags = { "--capture" }, arg = "METHOD", check = check_capture, config = true },
  { key = "verbose", flags = { "-v", "--verbose" }, config = true },
  { key = "quiet", flags = { "-q", "--quiet" }, config = true },
  { key = "output", flags = { "--output" }, arg = "FORMAT", check = check_output, config = true },
  { key = "junit_xml", flags = { "--junit-xml" }, arg = "FILE", check = check_file, config = true },
  { key = "durations", flags = { "--durations" }, arg = "N", check = check_count, config = true },
  { key = "no_color", flags = { "--no-color" }, config = true },
  { key = "coverage", flags = { "--coverage" }, config = true },
  { key = "watch", flags = { "--watch" } },
  { key = "env", flags = { "--env" } },
  { key = "merge_junit", flags = { "--merge-junit" }, arg = "OUT", check = check_file },
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
  -- (-s and --capture are one setting: the command line's wins.)
  o.capture = cli.capture or (cli.no_capture and "no") or config.capture or (config.no_capture and "no") or "sys"
  o.no_capture = nil
  if o.seed then
    o.shuffle = true
  elseif o.shuffle then
    o.seed = random_seed()
  end
  return o
end

-- ---- --env -----------------------------------------------------------------------------------

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

return M
