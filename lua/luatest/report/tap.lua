--- luatest.report.tap: the Test Anything Protocol, version 13, as an event
--- subscriber. `TAP version 13`, one `ok` / `not ok` line per test (and per
--- fixture scope whose teardown failed) as it ends, a YAML block under each
--- failure (message, severity, position, duration, the full report, as
--- quoted one-line strings), skips
--- as `# SKIP reason`, xfail tests as `not ok ... # TODO reason` (`ok` when
--- it passed), files that do not load as `Bail out!`, and the plan
--- `1..N` at the end (TAP allows it last, which stays right under -x).
local base = require "luatest.report.base"

local format, concat = string.format, table.concat

local M = {}

local Tap = base.class()

--- new(opts): a TAP reporter writing to opts.out (default io.stdout).
function M.new(opts)
  opts = opts or {}
  return base.init(setmetatable({ out = opts.out or io.stdout, n = 0, collect_errors = {} }, Tap))
end

-- A description or directive on one line, with `#` escaped as TAP asks.
local function one_line(s)
  return (tostring(s):gsub("[\r\n]+", " "):gsub("\\", "\\\\"):gsub("#", "\\#"))
end

local ESCAPES = { ["\\"] = "\\\\", ['"'] = '\\"', ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }

-- s as a double-quoted YAML scalar on one line, the form every YAML
-- reader of TAP (TAP::Parser's YAMLish included) takes.
local function quoted(s)
  return '"' .. base.utf8_clean(tostring(s)):gsub('[%c\\"]', function(c)
    return ESCAPES[c] or format("\\x%02X", c:byte())
  end) .. '"'
end

local function field(lines, key, s)
  lines[#lines + 1] = "  " .. key .. ": " .. quoted(s)
end

function Tap:run_start(e)
  self.out:write("TAP version 13\n")
  if e.seed then
    self.out:write(format("# seed %d (replay this order with --seed %d)\n", e.seed, e.seed))
  end
  for _, note in ipairs(e.notes or {}) do
    self.out:write("# ", one_line(note), "\n")
  end
end

function Tap:result(r, severity)
  self.n = self.n + 1
  local desc = one_line(r.test.id)
  local out = self.out
  if r.outcome then
    -- An xfail test is TAP's TODO: expected to fail, ok when it passed.
    local reason = r.test.xfail and r.test.xfail.reason or ""
    reason = reason ~= "" and (" " .. one_line(reason)) or ""
    out:write(format("%s %d - %s # TODO%s\n", r.outcome == "xpass" and "ok" or "not ok", self.n, desc, reason))
  elseif r.status == "pass" then
    out:write(format("ok %d - %s\n", self.n, desc))
  elseif r.status == "skip" then
    local reason = r.reason and r.reason ~= "" and (" " .. one_line(r.reason)) or ""
    out:write(format("ok %d - %s # SKIP%s\n", self.n, desc, reason))
  else
    out:write(format("not ok %d - %s\n", self.n, desc))
    local lines = { "  ---" }
    local info = r.failure or {}
    field(lines, "message", base.failure_message(info))
    lines[#lines + 1] = "  severity: " .. (severity or (r.status == "fail" and "fail" or "error"))
    if info.where then
      local file, line = info.where:match("^(.*):(%d+)$")
      if file then
        lines[#lines + 1] = "  at:"
        lines[#lines + 1] = "    file: " .. quoted(file)
        lines[#lines + 1] = "    line: " .. line
      end
    end
    if r.duration then
      lines[#lines + 1] = format("  duration_ms: %.3f", r.duration * 1000)
    end
    field(lines, "details", base.failure_text(r))
    if r.stdout then
      field(lines, "stdout", r.stdout)
    end
    if r.stderr then
      field(lines, "stderr", r.stderr)
    end
    lines[#lines + 1] = "  ..."
    out:write(concat(lines, "\n"), "\n")
  end
end

-- Each test, and each fixture scope whose teardown failed (base.lua).
function Tap:test_result(r)
  self:result(r)
end

function Tap:collect_error(e)
  self.collect_errors[#self.collect_errors + 1] = e
end

function Tap:run_end(c)
  local out = self.out
  if #self.collect_errors > 0 then
    for _, e in ipairs(self.collect_errors) do
      local first = tostring(e.message):match("^[^\n]*")
      out:write(format("Bail out! cannot load %s: %s\n", one_line(e.file), one_line(first)))
    end
    out:flush()
    return
  end
  for _, line in ipairs(base.stopped_lines(c) or {}) do
    out:write("# ", line, "\n")
  end
  if self.n == 0 then
    out:write("1..0 # SKIP no tests collected\n")
  else
    out:write(format("1..%d\n", self.n))
  end
  out:write("# ", base.summary(c), "\n")
  out:flush()
end

return M
