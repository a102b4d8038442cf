--- luatest.report.text: the text report, an event subscriber. A header
--- (the shuffle seed, --lf and --shard notes), a progress character per
--- test (`.` `F` `E` `s`, and `x` `X` for xfail tests that failed or
--- passed), or one line per test under -v with skip and xfail reasons; then each failure
--- with its id, position, message, source line, locals and traceback
--- (luatest's own frames trimmed), the slowest tests (--durations); the
--- last line is always `N passed, N failed[, N skipped]`. It composes
--- report/base.lua, as the other reports do.
local base = require "luatest.report.base"

local format, sort = string.format, table.sort

local M = {}

-- What the other reports and the runner have always found here, now in
-- report/base.lua.
M.trim_traceback, M.trim_traceback_text, M.failure_lines, M.failure_text, M.failure_message =
  base.trim_traceback, base.trim_traceback_text, base.failure_lines, base.failure_text, base.failure_message
M.summary, M.scope_test, M.utf8_clean = base.summary, base.scope_test, base.utf8_clean
local trim_traceback_text, summary = base.trim_traceback_text, base.summary

local Text = base.class()

local WIDTH = 72 -- progress characters per line
local CHAR, WORD = base.CHAR, base.WORD
local COLOR = { pass = "32", fail = "31", error = "31", skip = "33" }

--- new(opts): a text reporter. opts.out (a file, default io.stdout),
--- opts.verbosity (-1 quiet, 0 default, 1 verbose), opts.color (ANSI colours),
--- opts.tty (flush after each progress character), opts.durations (list
--- that many slowest tests at the end; 0 all, nil none).
function M.new(opts)
  opts = opts or {}
  return base.init(setmetatable({
    out = opts.out or io.stdout,
    verbosity = opts.verbosity or 0,
    color = opts.color and true or false,
    tty = opts.tty and true or false,
    durations = opts.durations,
    timings = opts.durations and {} or nil,
    failures = {},
    collect_errors = {},
    column = 0,
  }, Text))
end

function Text:paint(status, s)
  if self.color then
    return "\27[" .. COLOR[status] .. "m" .. s .. "\27[0m"
  end
  return s
end

local function format_time(s)
  if s >= 1 then
    return format("%.2f s", s)
  end
  return format("%.2f ms", s * 1000)
end

local indent = base.indent

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

function Text:test_result(r)
  local status = r.status
  if self.verbosity > 0 then
    local line = format("%s %s (%s)", self:paint(status, base.word(r)), r.test.id, format_time(r.duration or 0))
    if (status == "skip" or r.outcome) and r.reason and r.reason ~= "" then
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
    self:write(self:paint(status, base.char(r)))
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
  base.count(self.counts, "scope_error", e)
  self.failures[#self.failures + 1] = {
    status = "error",
    scope = e.scope,
    test = base.scope_test(e),
    failure = e.failure,
    stdout = e.stdout,
    stderr = e.stderr,
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

function Text:print_failure(r)
  local header = format("%s %s", WORD[r.status], r.test.id)
  local captured = base.captured_text(r)
  self:write(self:paint(r.status, header), "\n", base.failure_text(r), "\n", captured or "", "\n")
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
  for _, line in ipairs(base.stopped_lines(c) or {}) do
    self:write(line, "\n")
  end
  if self.verbosity > 0 and c.duration then
    self:write(format("ran in %s", format_time(c.duration)),
      c.deselected > 0 and format(", %d deselected", c.deselected) or "", "\n")
  end
  local errors = base.errors_line(c)
  if errors then
    self:write(errors, "\n")
  end
  self:write(summary(c), "\n")
end

return M
