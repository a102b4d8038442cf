--- luatest.report.base: what the reports share, as busted's output
--- handlers share a base: the status names, the counting of results, the
--- closing line, the per-test event (test_result, for tests and failed
--- fixture scopes alike), and the plain text of a failure. A report is
--- `base.class()`; its `new` calls `base.init(self)`; it defines
--- test_result(r) (and may override test_end and scope_error, calling the
--- base's to keep the counts).
local format, concat = string.format, table.concat
local utf8_len = require("luatest.compat").utf8_len

local M = {}

--- Status names: the progress character, the word of -v and failure
--- headers, the word of the JSON report.
M.CHAR = { pass = ".", fail = "F", error = "E", skip = "s" }
M.WORD = { pass = "PASS", fail = "FAIL", error = "ERROR", skip = "SKIP" }
M.NAME = { pass = "passed", fail = "failed", error = "error", skip = "skipped" }
--- The same for the outcomes of xfail tests: one that failed (counted as
--- skipped), one that passed (counted as passed), as pytest shows them.
M.OUTCOME_CHAR = { xfail = "x", xpass = "X" }
M.OUTCOME_WORD = { xfail = "XFAIL", xpass = "XPASS" }
M.OUTCOME_NAME = { xfail = "xfailed", xpass = "xpassed" }

--- char(r), word(r): the progress character and the word of a result.
function M.char(r)
  return M.OUTCOME_CHAR[r.outcome] or M.CHAR[r.status]
end

function M.word(r)
  return M.OUTCOME_WORD[r.outcome] or M.WORD[r.status]
end

-- ---- counting ------------------------------------------------------------------------------

--- new_counts(): { passed, failed, errors, skipped } all 0. `failed`
--- counts failures and errors; `errors` those of them that are errors.
function M.new_counts()
  return { passed = 0, failed = 0, errors = 0, skipped = 0 }
end

--- count(c, name, data): adds the event (test_end, scope_error; others are
--- ignored) to the counts c.
function M.count(c, name, data)
  if name == "test_end" then
    local status = data.status
    if status == "pass" then
      c.passed = c.passed + 1
    elseif status == "skip" then
      c.skipped = c.skipped + 1
    else
      c.failed = c.failed + 1
      if status == "error" then
        c.errors = (c.errors or 0) + 1
      end
    end
  elseif name == "scope_error" then
    c.failed = c.failed + 1
    c.errors = (c.errors or 0) + 1
  end
end

--- summary(counts): the closing line, `N passed, N failed[, N skipped]`.
-- (src/main.c writes the same line itself when a test crashes.)
function M.summary(c)
  local s = format("%d passed, %d failed", c.passed, c.failed)
  if c.skipped > 0 then
    s = s .. format(", %d skipped", c.skipped)
  end
  return s
end

--- errors_line(counts): the line before the closing one that tells errors
--- (a test whose body, fixture or hook raised something other than an
--- assertion failure; a failed fixture scope) apart from failures, as in
--- `4 failed: 3 failures, 1 error`; nil when there is no error.
function M.errors_line(c)
  local errors = c.errors or 0
  if errors == 0 then
    return nil
  end
  local failures = c.failed - errors
  return format("%d failed: %d failure%s, %d error%s", c.failed, failures, failures == 1 and "" or "s", errors,
    errors == 1 and "" or "s")
end

--- stopped_lines(counts): when -x or --maxfail stopped the run, the lines
--- that say so and how many tests did not run (a list); nil otherwise.
function M.stopped_lines(c)
  if not c.stopped then
    return nil
  end
  local lines = {}
  if c.exitfirst or not c.maxfail then
    lines[1] = "stopped after the first failure (-x)"
  else
    lines[1] = format("stopped after %d failure%s (--maxfail %d)", c.maxfail, c.maxfail == 1 and "" or "s",
      c.maxfail)
  end
  local not_run = c.not_run or 0
  if not_run > 0 then
    lines[2] = format("%d test%s not run", not_run, not_run == 1 and "" or "s")
  end
  return lines
end

--- scope_test(e): the pseudo test of a scope_error event (file or session
--- fixtures), for reports that list results per test.
function M.scope_test(e)
  if e.file then
    return { id = e.file .. " (file fixtures)", name = "(file fixtures)", file = { path = e.file }, line = 0 }
  end
  return { id = "session fixtures", name = "(session fixtures)", file = { path = "" }, line = 0 }
end

-- ---- the reporter base ---------------------------------------------------------------------

local Base = {}
Base.__index = Base

--- class(): a new report class inheriting the base's event handlers.
function M.class()
  local class = setmetatable({}, Base)
  class.__index = class
  return class
end

--- init(self): sets up the base's state of a new reporter (its counts).
function M.init(self)
  self.counts = M.new_counts()
  return self
end

--- test_end(r): counts the result and passes it to test_result.
function Base:test_end(r)
  M.count(self.counts, "test_end", r)
  if self.test_result then
    self:test_result(r)
  end
end

--- scope_error(e): counts a failed file or session fixture scope and
--- passes it to test_result as an error of its pseudo test.
function Base:scope_error(e)
  M.count(self.counts, "scope_error", e)
  if self.test_result then
    self:test_result({ test = M.scope_test(e), status = "error", scope = e.scope, failure = e.failure,
      stdout = e.stdout, stderr = e.stderr })
  end
end

-- ---- the text of a failure -----------------------------------------------------------------

local function is_internal_frame(frame)
  return frame:sub(1, 8) == "luatest/" or frame:find("/lua/luatest/", 1, true) ~= nil
end

--- trim_traceback(tb): the frames of a `stack traceback:` string that are
--- not luatest's own (nor the C frames luatest's own code called), as a list.
function M.trim_traceback(tb)
  local frames = {}
  for line in tb:gmatch("[^\n]+") do
    if line ~= "stack traceback:" and not line:find("^%s*%(%.%.%.tail calls%.%.%.%)$") then
      frames[#frames + 1] = (line:gsub("^%s+", ""))
    end
  end
  local keep = {}
  for i, frame in ipairs(frames) do
    if not is_internal_frame(frame) then
      if frame:sub(1, 3) == "[C]" then
        local nxt = frames[i + 1]
        if nxt and not is_internal_frame(nxt) then
          keep[#keep + 1] = frame
        end
      else
        keep[#keep + 1] = frame
      end
    end
  end
  return keep
end

-- A traceback string (a message, then "stack traceback:" and frames) with
-- luatest's own frames trimmed.
local function trim_traceback_text(s)
  local head, frames = s:match("^(.-)\n?stack traceback:\n(.*)$")
  if not head then
    return s
  end
  local keep = M.trim_traceback(frames)
  if #keep == 0 then
    return head
  end
  return head .. "\nstack traceback:\n  " .. concat(keep, "\n  ")
end
M.trim_traceback_text = trim_traceback_text

local function indent(s, prefix)
  return prefix .. s:gsub("\n", "\n" .. prefix)
end
M.indent = indent

--- failure_lines(info, test, lines): appends to `lines` the plain lines
--- describing one failure (an info table from the runner): the phase, the
--- position and message, the source line and the values it names, the
--- traceback without luatest's own frames. `test` (or nil) is its test.
-- Appends a traceback's frames (luatest's own trimmed) under a heading.
local function add_frames(lines, heading, tb)
  local frames = tb and M.trim_traceback(tb) or {}
  if #frames > 0 then
    lines[#lines + 1] = heading
    for _, f in ipairs(frames) do
      lines[#lines + 1] = "    " .. f
    end
  end
end

local function failure_lines(info, test, lines)
  local message = info.message or "?"
  if info.phase == "setup" then
    lines[#lines + 1] = "error in fixture setup:"
  elseif info.phase == "teardown" then
    lines[#lines + 1] = info.fixture and format("error in the teardown of fixture '%s':", info.fixture)
      or "error in teardown:"
  end
  local where = info.where
  if where and not message:find("^[^\n:]+:%d+: ") then
    message = where .. ": " .. message
  elseif not where and test and test.line and test.line > 0 then
    lines[#lines + 1] = format("(test defined at %s:%d)", test.file.path, test.line)
  end
  lines[#lines + 1] = message
  if info.source then
    lines[#lines + 1] = info.source
    if info.locals then
      for _, l in ipairs(info.locals) do
        lines[#lines + 1] = "    " .. l
      end
    end
  end
  add_frames(lines, "stack traceback:", info.traceback)
  add_frames(lines, "raised in a spawned task, at:", info.task_traceback)
end

M.failure_lines = failure_lines

--- failure_text(r): the plain text of a failed result (a test_end or
--- scope_error event): its failure, what failed after it, the
--- tracebacks of handler errors and the test's last HTTP exchanges
--- (r.http, see luatest.exchanges); without the header line.
function M.failure_text(r)
  local lines = {}
  failure_lines(r.failure, r.test, lines)
  if r.extra then
    for _, info in ipairs(r.extra) do
      lines[#lines + 1] = "then:"
      failure_lines(info, nil, lines)
    end
  end
  if r.handler_errors then
    lines[#lines + 1] = "handler errors:"
    for _, tb in ipairs(r.handler_errors) do
      lines[#lines + 1] = indent(trim_traceback_text(tb), "    ")
    end
  end
  if r.notes then
    for _, note in ipairs(r.notes) do
      lines[#lines + 1] = note
    end
  end
  if r.http then
    require("luatest.exchanges").text_lines(r.http, r.http_total, lines)
  end
  return concat(lines, "\n")
end

--- captured_text(r): what a failed test wrote (r.stdout, r.stderr), under
--- a line naming each stream, as pytest shows it; nil when it wrote nothing.
function M.captured_text(r)
  local parts = {}
  for _, k in ipairs { "stdout", "stderr" } do
    local text = r[k]
    if text and text ~= "" then
      if text:sub(-1) ~= "\n" then
        text = text .. "\n"
      end
      parts[#parts + 1] = "----- captured " .. k .. " -----\n" .. text
    end
  end
  if #parts == 0 then
    return nil
  end
  return concat(parts)
end

--- failure_message(info): the message of a failure, with its position
--- (file:line) in front when it has one.
function M.failure_message(info)
  local message = info.message or "?"
  if info.where and not message:find("^[^\n:]+:%d+: ") then
    message = info.where .. ": " .. message
  end
  return message
end

-- U+FFFD, and the UTF-8 of U+FFFE and U+FFFF, in decimal escapes (5.1 has
-- neither \u{} nor \x).
local REPLACEMENT, NONCHAR = "\239\191\189", "\239\191[\190\191]"

--- utf8_clean(s): s with each byte that is not part of valid UTF-8 (and
--- U+FFFE, U+FFFF) replaced by U+FFFD, for formats that require UTF-8.
function M.utf8_clean(s)
  if not utf8_len(s) then
    local out, i, n = {}, 1, #s
    while i <= n do
      local len, bad = utf8_len(s, i)
      if len then
        out[#out + 1] = s:sub(i)
        break
      end
      out[#out + 1] = s:sub(i, bad - 1)
      out[#out + 1] = REPLACEMENT
      i = bad + 1
    end
    s = concat(out)
  end
  if s:find(NONCHAR) then
    s = s:gsub(NONCHAR, REPLACEMENT)
  end
  return s
end

return M
