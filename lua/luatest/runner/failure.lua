--- luatest.runner.failure: the failure records of tests, hooks and fixtures:
--- the xpcall message handler that notes, where the error was raised, its
--- message, position, source line, the values that line names and the
--- traceback; assertion failures told apart from errors; the record of a
--- task stopped at its time limit; how records add up on a result.
local luatest = require "luatest"
local assertions = require "luatest.assert"
local compat = require "luatest.compat"

local format, tonumber = string.format, tonumber
local erring_thread, tointeger = compat.erring_thread, compat.tointeger
local getinfo, traceback = debug.getinfo, debug.traceback
local is_skip, is_failure, error_text = assertions.is_skip, assertions.is_failure, assertions.error_text

local rt = luatest._runtime
local C_ASSERT = assert

local M = {}

local function is_internal(source)
  return source:sub(1, 9) == "=luatest/" or source:find("/lua/luatest/", 1, true) ~= nil
end

local file_lines = {}

local function source_line(source, line)
  if source:sub(1, 1) ~= "@" then
    return nil
  end
  local path = source:sub(2)
  local lines = file_lines[path]
  if lines == nil then
    lines = false
    local f = io.open(path, "r")
    if f then
      lines = {}
      for l in f:lines() do
        lines[#lines + 1] = l
      end
      f:close()
    end
    file_lines[path] = lines
  end
  return lines and lines[line]
end

local function seconds_text(s)
  return format("%g s", s)
end

-- The xpcall message handler of tests, hooks and fixtures: runs where the
-- error was raised and records what the report shows.
local function handler(err)
  if is_skip(err) then
    return { skip = err.reason }
  end
  local info = { value = err, message = error_text(err) }
  -- Under 5.1 the handler runs after the fact, on the stack the failed
  -- coroutine left, where the raiser is level 0 (level 2 here).
  local co = erring_thread()
  local function frame(level, what)
    if co then
      return getinfo(co, level - 2, what)
    end
    local ar = getinfo(level + 1, what) -- (not a tail call: LuaJIT would drop this frame)
    return ar
  end
  local raiser = frame(2, "f")
  info.assertion = is_failure(err) or (raiser ~= nil and raiser.func == C_ASSERT)
  for level = 2, 200 do
    local ar = frame(level, "Slf")
    if not ar then
      break
    end
    if ar.what ~= "C" and ar.currentline > 0 and not is_internal(ar.source) then
      info.where = ar.short_src .. ":" .. ar.currentline
      local line = source_line(ar.source, ar.currentline)
      if line then
        info.source = format("%5d | %s", ar.currentline, (line:gsub("^%s+", "")))
        if co then
          info.locals = require("luatest.values").named(level - 2, ar.func, line, co)
        else
          info.locals = require("luatest.values").named(level, ar.func, line)
        end
      end
      break
    end
  end
  -- ("", not nil: LuaJIT returns nil for nil)
  info.traceback = co and traceback(co, "", 0) or traceback("", 2)
  if err ~= nil then
    info.task_traceback = rt.tracebacks[err]
  end
  return info
end
--- handler(err): the message handler of tests, hooks and fixtures (above).
M.handler = handler
M.source_line = source_line
M.seconds_text = seconds_text

--- load_handler(err): the xpcall message handler of a spec file's load:
--- a skip as it is, anything else as its message and traceback.
function M.load_handler(err)
  if is_skip(err) then
    return err
  end
  return traceback(error_text(err), 2)
end


--- record(res, info, phase): adds a failure (or a skip) noted by handler
--- to a test's result: the first sets its status ("fail" for an assertion
--- in the test itself, "error" for anything else or any other phase), the
--- others go to res.extra.
function M.record(res, info, phase)
  if info.skip then
    if res.status == "pass" then
      res.status = "skip"
      res.reason = info.skip
    end
    return
  end
  info.phase = phase
  if res.failure == nil then
    res.failure = info
    res.status = (phase == "call" and info.assertion) and "fail" or "error"
  else
    local extra = res.extra
    if not extra then
      extra = {}
      res.extra = extra
    end
    extra[#extra + 1] = info
  end
end

--- record_teardown(info, name, res): records the failed teardown of
--- fixture `name` (the form fixtures.teardown reports with).
function M.record_teardown(info, name, res)
  info.fixture = name
  M.record(res, info, "teardown")
end

--- stopped_info(info, limit, who): the failure of a task that
--- run_with_timeout stopped; `who` names what ran in it ("the test", "its
--- teardown", ...).
function M.stopped_info(info, limit, who)
  local where = info.where
  if where == "?" then
    where = nil
  end
  local out = { where = where, traceback = info.traceback, assertion = info.timeout and true or false,
    timeout = info.timeout and true or nil }
  if info.timeout then
    out.message = format("timeout: %s did not finish within %s; it was waiting on %s", who, seconds_text(limit),
      info.waiting_on or "?")
  else
    out.message = format("%s waits on %s, and nothing is left that could wake it", who, info.waiting_on or "nothing")
  end
  if where then
    local path, line = where:match("^(.*):(%d+)$")
    line = tointeger(tonumber(line))
    local text = path and source_line("@" .. path, line)
    if text then
      out.source = format("%5d | %s", line, (text:gsub("^%s+", "")))
    end
  end
  return out
end

return M
