--- luatest.report.json: the run as one JSON document (luatest.json), written
--- when the run ends, as an event subscriber:
---   {"tool": "luatest", "version": ..., "seed": N or null,
---    "tests": [{"id", "file", "name", "line", "status" (passed, failed,
---      error, skipped), "outcome" (the status, or xfailed and xpassed
---      for xfail tests), "marks" (a list), "duration" (seconds),
---      "message" (the failure's message with its position, the skip or
---      xfail reason, or null), "details" (the full failure report),
---      "stdout", "stderr" (what a failed test wrote, or null), "http" (a
---      failed test's last HTTP exchanges, when it made any:
---      luatest.exchanges.report's tables)}, ...],
---    "errors": [{"file", "scope" (load, file, session), "message",
---      "stdout", "stderr" (what the failed teardowns wrote, or null)}],
---    "totals": {"passed", "failed" (failures and errors), "errors" (those
---      of them that are errors), "skipped", "deselected", "total"},
---    "duration", "exit_code"}
--- Every string is valid UTF-8.
local json = require "luatest.json"
local function encode(v)
  return json.encode(v, { invalid_utf8 = "replace" })
end
local base = require "luatest.report.base"

local format, concat = string.format, table.concat

local M = {}

local Json = base.class()

local STATUS = base.NAME

--- new(opts): a JSON reporter writing to opts.out (default io.stdout).
function M.new(opts)
  opts = opts or {}
  return base.init(setmetatable({ out = opts.out or io.stdout, tests = {}, errors = {}, seed = nil }, Json))
end

local function str(s)
  if s == nil then
    return json.null
  end
  return base.utf8_clean(tostring(s))
end

function Json:run_start(e)
  self.seed = e.seed
end

local function copy_list(list)
  local out = {}
  for i, v in ipairs(list or {}) do
    out[i] = v
  end
  return out
end

function Json:test_result(r)
  local t = r.test
  local message, details = json.null, json.null
  if r.status == "skip" or r.outcome then
    message = str(r.reason)
  elseif r.failure then
    message = str(base.failure_message(r.failure))
    details = str(base.failure_text(r))
  end
  self.tests[#self.tests + 1] = encode({
    id = str(t.id),
    file = str(t.file.path),
    name = str(t.name),
    line = t.line or 0,
    status = STATUS[r.status] or r.status,
    outcome = base.OUTCOME_NAME[r.outcome] or STATUS[r.status] or r.status,
    marks = json.array(copy_list(t.marks)),
    duration = r.duration or 0,
    message = message,
    details = details,
    stdout = str(r.stdout),
    stderr = str(r.stderr),
    http = r.http,
  })
end

function Json:scope_error(e)
  base.count(self.counts, "scope_error", e)
  self.errors[#self.errors + 1] = encode({
    file = str(e.file),
    scope = e.scope,
    message = str(base.failure_text({ test = base.scope_test(e), failure = e.failure })),
    stdout = str(e.stdout),
    stderr = str(e.stderr),
  })
end

function Json:collect_error(e)
  self.errors[#self.errors + 1] = encode({
    file = str(e.file),
    scope = "load",
    message = str(base.trim_traceback_text(tostring(e.message))),
  })
end

local function list(items)
  if #items == 0 then
    return "[]"
  end
  return "[\n  " .. concat(items, ",\n  ") .. "\n]"
end

function Json:run_end(c)
  local core = require "luatest.core"
  local totals = encode({
    passed = c.passed,
    failed = c.failed,
    errors = c.errors or 0,
    skipped = c.skipped,
    deselected = c.deselected or 0,
    total = c.total or 0,
  })
  local doc = format('{"tool": "luatest", "version": %s, "seed": %s,\n"tests": %s,\n"errors": %s,\n'
    .. '"totals": %s, "duration": %s, "exit_code": %s}\n',
    encode(tostring(core.version)), c.seed and format("%d", c.seed) or "null", list(self.tests),
    list(self.errors), totals, format("%.6f", c.duration or 0), c.exit_code and format("%d", c.exit_code) or "null")
  self.out:write(doc)
  self.out:flush()
end

return M
