--- luatest.report.text: the text report, an event subscriber. A header
--- (the shuffle seed, --lf and --shard notes), a progress character per
--- test (`.` `F` `E` `s`), or one line per test under -v; then each failure
--- with its id, position, message, source line, locals and traceback
--- (luatest's own frames trimmed), the slowest tests (--durations); the
--- last line is always `N passed, N failed[, N skipped]`. The other reports
--- use its failure text (failure_lines) and summary.
local format, concat, sort = string.format, table.concat, table.sort
local utf8_len = require("luatest.compat").utf8_len

local M = {}

local Text = {}
Text.__index = Text

local WIDTH = 72 -- progress characters per line
local CHAR = { pass = ".", fail = "F", error = "E", skip = "s" }
local WORD = { pass = "PASS", fail = "FAIL", error = "ERROR", skip = "SKIP" }
local COLOR = { pass = "32", fail = "31", error = "31", skip = "33" }

--- new(opts): a text reporter. opts.out (a file, default io.stdout),
--- opts.verbosity (-1 quiet, 0 default, 1 verbose), opts.color (ANSI colours),
--- opts.tty (flush after each progress character), opts.durations (list
--- that many slowest tests at the end; 0 all, nil none).
function M.new(opts)
  opts = opts or {}
  return setmetatable({
    out = opts.out or io.stdout,
    verbosity = opts.verbosity or 0,
    color = opts.color and true or false,
    tty = opts.tty and true or false,
    durations = opts.durations,
    timings = opts.durations and {} or nil,
    failures = {},
    collect_errors = {},
    column = 0,
  }, Text)
end

function Text:paint(status, s)
  if self.color then
    return "\27[" .. COLOR[status] .. "m" .. s .. "\27[0m"
  end
  return s
end

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

local function format_time(s)
  if s >= 1 then
    return format("%.2f s", s)
  end
  return format("%.2f ms", s * 1000)
end

local function indent(s, prefix)
  return prefix .. s:gsub("\n", "\n" .. prefix)
end

function Text:write(...)
  self.out:write(...)
end

function Text:run_start(e)
  if e.seed then
    self:write(format("seed: %d (tests shuffled; replay this order with --seed %d)\n", e.seed, e.seed))
  end
  if self.verbosity >= 0 and e.notes then
    for _, note in ipairs(e.notes) do
      self:write(note, "\n")
    end
  end
  if self.verbosity > 0 and e.jobs and e.jobs > 1 then
    self:write(format("running %d test%s in %d worker processes\n", e.total, e.total == 1 and "" or "s", e.jobs))
  end
end

function Text:file_start(e)
  if self.verbosity == 0 then
    self:write(e.file, " ")
  end
end

function Text:test_end(r)
  local status = r.status
  if self.verbosity > 0 then
    local line = format("%s %s (%s)", self:paint(status, WORD[status]), r.test.id, format_time(r.duration or 0))
    if status == "skip" and r.reason and r.reason ~= "" then
      line = line .. ": " .. r.reason
    end
    self:write(line, "\n")
    if r.handler_errors then
      self:write("  handler errors:\n")
      for _, tb in ipairs(r.handler_errors) do
        self:write(indent(trim_traceback_text(tb), "    "), "\n")
      end
    end
  else
    if self.column >= WIDTH then
      self:write("\n")
      self.column = 0
    end
    self:write(self:paint(status, CHAR[status]))
    self.column = self.column + 1
    if self.tty then
      self.out:flush()
    end
  end
  if status == "fail" or status == "error" then
    self.failures[#self.failures + 1] = r
  end
  if self.timings and status ~= "skip" then
    self.timings[#self.timings + 1] = r
  end
end

function Text:file_end()
  if self.verbosity == 0 then
    self:write("\n")
    self.column = 0
  end
end

function Text:scope_error(e)
  self.failures[#self.failures + 1] = {
    status = "error",
    scope = e.scope,
    test = M.scope_test(e),
    failure = e.failure,
  }
end

function Text:collect_error(e)
  self.collect_errors[#self.collect_errors + 1] = e
end

function Text:list_end()
  for _, e in ipairs(self.collect_errors) do
    io.stderr:write("luatest: cannot load ", e.file, ":\n", indent(trim_traceback_text(tostring(e.message)), "  "), "\n")
  end
end

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
--- scope_error event): its failure, what failed after it, and the
--- tracebacks of handler errors; without the header line.
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
  return concat(lines, "\n")
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

function Text:print_failure(r)
  local header = format("%s %s", WORD[r.status], r.test.id)
  self:write(self:paint(r.status, header), "\n", M.failure_text(r), "\n\n")
end

--- summary(counts): `N passed, N failed[, N skipped]`.
local function summary(c)
  local s = format("%d passed, %d failed", c.passed, c.failed)
  if c.skipped > 0 then
    s = s .. format(", %d skipped", c.skipped)
  end
  return s
end
M.summary = summary

--- scope_test(e): the pseudo test of a scope_error event (file or session
--- fixtures), for reports that list results per test.
function M.scope_test(e)
  if e.file then
    return { id = e.file .. " (file fixtures)", name = "(file fixtures)", file = { path = e.file }, line = 0 }
  end
  return { id = "session fixtures", name = "(session fixtures)", file = { path = "" }, line = 0 }
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

function Text:print_durations()
  local list = self.timings
  sort(list, function(a, b)
    if a.duration ~= b.duration then
      return (a.duration or 0) > (b.duration or 0)
    end
    return a.test.id < b.test.id
  end)
  local n = self.durations
  if n == 0 or n > #list then
    n = #list
  end
  self:write(format("slowest %d test%s:\n", n, n == 1 and "" or "s"))
  for i = 1, n do
    local r = list[i]
    self:write(format("%10s  %s\n", format_time(r.duration or 0), r.test.id))
  end
end

function Text:run_end(c)
  if self.column > 0 then
    self:write("\n")
    self.column = 0
  end
  if #self.collect_errors > 0 then
    self:write("\n", self:paint("error", "ERRORS while loading spec files"), "\n\n")
    for _, e in ipairs(self.collect_errors) do
      self:write(self:paint("error", "ERROR loading " .. e.file), "\n", trim_traceback_text(tostring(e.message)), "\n\n")
    end
    self:write(format("interrupted: %d spec file%s did not load\n", #self.collect_errors,
      #self.collect_errors == 1 and "" or "s"))
  elseif #self.failures > 0 then
    self:write("\n", self:paint("fail", "FAILURES"), "\n\n")
    for _, r in ipairs(self.failures) do
      self:print_failure(r)
    end
  end
  if c.total == 0 and #self.collect_errors == 0 then
    if c.deselected > 0 then
      self:write(format("no tests selected (%d deselected)\n", c.deselected))
    else
      self:write("no tests collected\n")
    end
  end
  if self.timings and #self.timings > 0 then
    self:print_durations()
  end
  if c.stopped then
    self:write("stopped after the first failure (-x)\n")
  end
  if self.verbosity > 0 and c.duration then
    self:write(format("ran in %s", format_time(c.duration)),
      c.deselected > 0 and format(", %d deselected", c.deselected) or "", "\n")
  end
  self:write(summary(c), "\n")
end

return M
