--- luatest.report.text: the text report, an event subscriber. A progress
--- character per test (`.` `F` `E` `s`), or one line per test under -v; then
--- each failure with its id, position, message, source line, locals and
--- traceback (luatest's own frames trimmed); the last line is always
--- `N passed, N failed[, N skipped]`.
local format, concat = string.format, table.concat

local M = {}

local Text = {}
Text.__index = Text

local WIDTH = 72 -- progress characters per line
local CHAR = { pass = ".", fail = "F", error = "E", skip = "s" }
local WORD = { pass = "PASS", fail = "FAIL", error = "ERROR", skip = "SKIP" }
local COLOR = { pass = "32", fail = "31", error = "31", skip = "33" }

--- new(opts): a text reporter. opts.out (a file, default io.stdout),
--- opts.verbosity (-1 quiet, 0 default, 1 verbose), opts.color (ANSI colours),
--- opts.tty (flush after each progress character).
function M.new(opts)
  opts = opts or {}
  return setmetatable({
    out = opts.out or io.stdout,
    verbosity = opts.verbosity or 0,
    color = opts.color and true or false,
    tty = opts.tty and true or false,
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
    test = { id = e.file and (e.file .. " (file fixtures)") or "session fixtures" },
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

-- The lines describing one failure (an info table from the runner).
function Text:failure_lines(info, test, lines)
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
  if info.traceback then
    local frames = M.trim_traceback(info.traceback)
    if #frames > 0 then
      lines[#lines + 1] = "stack traceback:"
      for _, f in ipairs(frames) do
        lines[#lines + 1] = "    " .. f
      end
    end
  end
  if info.task_traceback then
    local frames = M.trim_traceback(info.task_traceback)
    if #frames > 0 then
      lines[#lines + 1] = "raised in a spawned task, at:"
      for _, f in ipairs(frames) do
        lines[#lines + 1] = "    " .. f
      end
    end
  end
end

function Text:print_failure(r)
  local lines = {}
  local header = format("%s %s", WORD[r.status], r.test.id)
  lines[1] = self:paint(r.status, header)
  self:failure_lines(r.failure, r.test, lines)
  if r.extra then
    for _, info in ipairs(r.extra) do
      lines[#lines + 1] = "then:"
      self:failure_lines(info, nil, lines)
    end
  end
  if r.handler_errors then
    lines[#lines + 1] = "handler errors:"
    for _, tb in ipairs(r.handler_errors) do
      lines[#lines + 1] = indent(trim_traceback_text(tb), "    ")
    end
  end
  self:write(concat(lines, "\n"), "\n\n")
end

local function summary(c)
  local s = format("%d passed, %d failed", c.passed, c.failed)
  if c.skipped > 0 then
    s = s .. format(", %d skipped", c.skipped)
  end
  return s
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
