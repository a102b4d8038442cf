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
--- suite. All text is escaped and made valid UTF-8. merge() is
--- `luatest --merge-junit`, which joins such files.
local base = require "luatest.report.base"

local format, concat, tonumber, tostring, pairs = string.format, table.concat, tonumber, tostring, pairs

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

-- ---- --merge-junit ------------------------------------------------------------------------

local ATTR_ENTITIES = { amp = "&", lt = "<", gt = ">", quot = '"', apos = "'" }

local function unescape(s)
  return (s:gsub("&(#?x?)(%w+);", function(kind, name)
    if kind == "" then
      return ATTR_ENTITIES[name]
    end
    local code = tonumber(name, kind == "#x" and 16 or 10)
    return code and code < 128 and string.char(code) or nil
  end))
end

local function attributes(text)
  local out = {}
  for name, _, value in text:gmatch("([%w_:%-%.]+)%s*=%s*([\"'])(.-)%2") do
    out[name] = unescape(value)
  end
  return out
end

-- The elements of an XML document, as { name, attrs, s, e (the first and
-- last byte of the element), kids }; the root, or nil and why not. Enough
-- of XML for JUnit files: comments, processing instructions, CDATA and a
-- DOCTYPE are passed over, and the tags must nest.
-- What the merge reads past without looking inside: open, close, name.
local SKIPPED = {
  { "<!--", "-->", "a comment" },
  { "<![CDATA[", "]]>", "a CDATA section" },
  { "<?", "?>", "a processing instruction" },
  { "<!", ">", "a declaration" },
}

-- Where reading goes on when a comment, CDATA section, processing
-- instruction or declaration starts at lt; or nil, and the name of one
-- that is not closed.
local function skipped_until(text, lt)
  for _, k in ipairs(SKIPPED) do
    local open = k[1]
    if text:sub(lt, lt + #open - 1) == open then
      local _, e = text:find(k[2], lt + #open, true)
      if not e then
        return nil, k[3]
      end
      return e + 1
    end
  end
end

local function parse_xml(text)
  local pos, n = 1, #text
  local root
  local stack = {}
  while true do
    local lt = text:find("<", pos, true)
    if not lt then
      break
    end
    local skip_to, unclosed = skipped_until(text, lt)
    if unclosed then
      return nil, unclosed .. " is not closed"
    end
    if skip_to then
      pos = skip_to
    else
      -- (a ">" may stand in a quoted attribute value)
      local gt, at = nil, lt + 1
      while true do
        local c = text:find("[>\"']", at)
        if not c then
          return nil, "a tag is not closed"
        end
        local ch = text:sub(c, c)
        if ch == ">" then
          gt = c
          break
        end
        local close = text:find(ch, c + 1, true)
        if not close then
          return nil, "an attribute value is not closed"
        end
        at = close + 1
      end
      local tag = text:sub(lt + 1, gt - 1)
      local closing = tag:match("^/%s*([^%s]+)%s*$")
      if closing then
        local top = stack[#stack]
        if not top or top.name ~= closing then
          return nil, format("</%s> closes %s", closing, top and ("<" .. top.name .. ">") or "nothing")
        end
        top.e = gt
        stack[#stack] = nil
      else
        local name, rest = tag:match("^([%w_:%-%.]+)(.-)$")
        if not name then
          return nil, format("a bad tag at byte %d", lt)
        end
        local empty = rest:sub(-1) == "/"
        local el = { name = name, attrs = attributes(rest), s = lt, e = gt, tag_end = gt, empty = empty, kids = {} }
        local parent = stack[#stack]
        if parent then
          parent.kids[#parent.kids + 1] = el
        elseif root then
          return nil, "more than one root element"
        else
          root = el
        end
        if not empty then
          stack[#stack + 1] = el
        end
      end
      pos = gt + 1
    end
  end
  if #stack > 0 then
    return nil, format("<%s> is not closed", stack[#stack].name)
  end
  if not root then
    return nil, "no XML element"
  end
  return root
end

local COUNTS = { "tests", "failures", "errors", "skipped" }

-- A testsuite's counts and time: its attributes, or what its test cases say.
local function suite_totals(suite)
  local t = { tests = 0, failures = 0, errors = 0, skipped = 0, time = 0 }
  for _, case in ipairs(suite.kids) do
    if case.name == "testcase" then
      t.tests = t.tests + 1
      t.time = t.time + (tonumber(case.attrs.time) or 0)
      for _, k in ipairs(case.kids) do
        if k.name == "failure" then
          t.failures = t.failures + 1
        elseif k.name == "error" then
          t.errors = t.errors + 1
        elseif k.name == "skipped" then
          t.skipped = t.skipped + 1
        end
      end
    end
  end
  for _, key in ipairs(COUNTS) do
    local v = tonumber(suite.attrs[key])
    if v then
      t[key] = math.floor(v) -- (a count written "3.0" is still 3)
    end
  end
  t.time = tonumber(suite.attrs.time) or t.time
  return t
end

--- merge(out, inputs): `luatest --merge-junit OUT IN...`: writes to `out`
--- one <testsuites> document holding the <testsuite> elements of the JUnit
--- files `inputs` (each a <testsuites> or a <testsuite> document) as they
--- are, with the totals of their counts (tests, failures, errors, skipped)
--- and times. true, or nil and a message naming the file at fault.
function M.merge(out, inputs)
  if #inputs == 0 then
    return nil, "no input files (luatest --merge-junit OUT IN...)"
  end
  local parts = {}
  local totals = { tests = 0, failures = 0, errors = 0, skipped = 0, time = 0 }
  for _, path in ipairs(inputs) do
    local f, ferr = io.open(path, "rb")
    if not f then
      return nil, format("cannot read %s", tostring(ferr))
    end
    local text = f:read("*a")
    f:close()
    local root, why = parse_xml(text)
    local suites
    if root and root.name == "testsuites" then
      suites = root.kids
    elseif root and root.name == "testsuite" then
      suites = { root }
    elseif root then
      why = format("the root element is <%s>, not <testsuites> or <testsuite>", root.name)
    end
    if not suites then
      return nil, format("%s is not a JUnit XML file: %s", path, why)
    end
    for _, suite in ipairs(suites) do
      if suite.name == "testsuite" then
        local t = suite_totals(suite)
        for key, v in pairs(t) do
          totals[key] = totals[key] + v
        end
        -- (the counts its attributes left out are added, so that every
        -- suite of the merged document has them all)
        local missing = {}
        for _, key in ipairs(COUNTS) do
          if not tonumber(suite.attrs[key]) then
            missing[#missing + 1] = format(' %s="%d"', key, t[key])
          end
        end
        if not tonumber(suite.attrs.time) then
          missing[#missing + 1] = format(' time="%s"', seconds(t.time))
        end
        local head_end = suite.tag_end - (suite.empty and 2 or 1)
        parts[#parts + 1] = "  " .. text:sub(suite.s, head_end) .. concat(missing)
          .. text:sub(head_end + 1, suite.e)
      end
    end
  end
  local f, ferr = io.open(out, "w")
  if not f then
    return nil, format("cannot write %s", tostring(ferr))
  end
  f:write('<?xml version="1.0" encoding="UTF-8"?>\n')
  f:write(format('<testsuites name="luatest" tests="%d" failures="%d" errors="%d" skipped="%d" time="%s">\n',
    totals.tests, totals.failures, totals.errors, totals.skipped, seconds(totals.time)))
  for _, p in ipairs(parts) do
    f:write(p, "\n")
  end
  f:write("</testsuites>\n")
  f:close()
  return true
end

return M
