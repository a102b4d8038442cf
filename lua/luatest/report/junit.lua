--- luatest.report.junit: JUnit XML as Jenkins and GitLab read it, as an
--- event subscriber, written when the run ends: <testsuites> holding one
--- <testsuite> per spec file, one <testcase> per test (classname from the
--- file's path, name, file, line, time in seconds) with a <failure>
--- (assertion, timeout) or an <error> (anything else) whose message
--- attribute is the message and whose body is the full report, then what
--- the test wrote in <system-out> and <system-err>; or a <skipped> with
--- the reason (type="xfail" for an xfail test that failed; one that
--- passed is a passing test case, as in pytest's). Files that do not load
--- and failed fixture teardowns are error test cases of their file's
--- suite. All text is escaped and made valid UTF-8.
local base = require "luatest.report.base"

local format, concat = string.format, table.concat

local M = {}

local Junit = base.class()

--- new(opts): a JUnit reporter writing to opts.out (default io.stdout).
function M.new(opts)
  opts = opts or {}
  return base.init(setmetatable({ out = opts.out or io.stdout, suites = {}, order = {}, started = os.time() },
    Junit))
end

local ENTITIES = { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;", ["'"] = "&apos;" }

--- escape(s): s as XML character data: valid UTF-8, the five special
--- characters as entities, control characters XML cannot hold as \xNN.
function M.escape(s)
  s = base.utf8_clean(tostring(s))
  s = s:gsub("[%z\1-\8\11\12\14-\31\127]", function(c)
    return format("\\x%02X", c:byte())
  end)
  return (s:gsub("[&<>\"']", ENTITIES))
end

--- attr(s): s escaped for an attribute value (line breaks and tabs kept as
--- character references, which attribute normalisation would lose).
function M.attr(s)
  return (M.escape(s):gsub("[\n\r\t]", { ["\n"] = "&#10;", ["\r"] = "&#13;", ["\t"] = "&#9;" }))
end

-- spec/a/b_spec.lua -> spec.a.b_spec, as pytest names modules.
local function classname(path)
  return (path:gsub("^%./", ""):gsub("%.lua$", ""):gsub("/", "."))
end

function Junit:suite(path)
  local s = self.suites[path]
  if not s then
    s = { name = path, cases = {}, tests = 0, failures = 0, errors = 0, skipped = 0, time = 0 }
    self.suites[path] = s
    self.order[#self.order + 1] = s
  end
  return s
end

function Junit:add(path, case)
  local s = self:suite(path)
  s.cases[#s.cases + 1] = case
  s.tests = s.tests + 1
  s.time = s.time + (case.duration or 0)
  if case.status == "fail" then
    s.failures = s.failures + 1
  elseif case.status == "error" then
    s.errors = s.errors + 1
  elseif case.status == "skip" then
    s.skipped = s.skipped + 1
  end
end

function Junit:test_result(r)
  local t = r.test
  self:add(t.file.path, { result = r, name = t.name ~= "" and t.name or "(file)", file = t.file.path,
    line = t.line, status = r.status, duration = r.duration })
end

function Junit:scope_error(e)
  base.count(self.counts, "scope_error", e)
  local t = base.scope_test(e)
  local r = { test = t, status = "error", failure = e.failure, stdout = e.stdout, stderr = e.stderr }
  self:add(e.file or "luatest", { result = r, name = t.name, file = e.file, status = "error", duration = 0 })
end

function Junit:collect_error(e)
  local r = { test = { id = e.file, file = { path = e.file }, line = 0 }, status = "error",
    failure = { message = "cannot load the file: " .. base.trim_traceback_text(tostring(e.message)) } }
  self:add(e.file, { result = r, name = "(load)", file = e.file, status = "error", duration = 0 })
end

local function seconds(d)
  return format("%.3f", d or 0)
end

local function case_xml(lines, path, case)
  local attrs = format('classname="%s" name="%s"', M.attr(classname(path)), M.attr(case.name))
  if case.file then
    attrs = attrs .. format(' file="%s"', M.attr(case.file))
  end
  if case.line and case.line > 0 then
    attrs = attrs .. format(' line="%d"', case.line)
  end
  attrs = attrs .. format(' time="%s"', seconds(case.duration))
  local r = case.result
  if case.status == "pass" then
    lines[#lines + 1] = format("    <testcase %s/>", attrs)
    return
  end
  lines[#lines + 1] = format("    <testcase %s>", attrs)
  if case.status == "skip" then
    -- (pytest's type for an xfail test that failed)
    local kind = r.outcome == "xfail" and ' type="xfail"' or ""
    lines[#lines + 1] = format('      <skipped%s message="%s"/>', kind, M.attr(r.reason or ""))
  else
    local info = r.failure or {}
    local tag = case.status == "fail" and "failure" or "error"
    local kind = info.timeout and "timeout" or (case.status == "fail" and "assertion" or "error")
    local body = r.test.id .. "\n" .. base.failure_text(r)
    lines[#lines + 1] = format('      <%s message="%s" type="%s">%s</%s>', tag, M.attr(base.failure_message(info)),
      kind, M.escape(body), tag)
    if r.stdout then
      lines[#lines + 1] = format("      <system-out>%s</system-out>", M.escape(r.stdout))
    end
    if r.stderr then
      lines[#lines + 1] = format("      <system-err>%s</system-err>", M.escape(r.stderr))
    end
  end
  lines[#lines + 1] = "    </testcase>"
end

function Junit:run_end(c)
  local lines = { '<?xml version="1.0" encoding="UTF-8"?>' }
  local tests, failures, errors, skipped, time = 0, 0, 0, 0, 0
  for _, s in ipairs(self.order) do
    tests, failures, errors, skipped = tests + s.tests, failures + s.failures, errors + s.errors, skipped + s.skipped
    time = time + s.time
  end
  local stamp = os.date("!%Y-%m-%dT%H:%M:%S", self.started)
  lines[#lines + 1] = format('<testsuites name="luatest" tests="%d" failures="%d" errors="%d" skipped="%d" time="%s">',
    tests, failures, errors, skipped, seconds(c.duration or time))
  for _, s in ipairs(self.order) do
    lines[#lines + 1] = format('  <testsuite name="%s" tests="%d" failures="%d" errors="%d" skipped="%d" time="%s" '
      .. 'timestamp="%s">', M.attr(s.name), s.tests, s.failures, s.errors, s.skipped, seconds(s.time), stamp)
    for _, case in ipairs(s.cases) do
      case_xml(lines, s.name, case)
    end
    lines[#lines + 1] = "  </testsuite>"
  end
  lines[#lines + 1] = "</testsuites>"
  self.out:write(concat(lines, "\n"), "\n")
  self.out:flush()
end

return M
