--- luatest.coverage: what --coverage counts and writes. The lines run are
--- counted by a C line hook (core.coverage_start) that every task thread
--- and every coroutine created from one carries; this module turns the
--- counts into LuaCov's files: luacov.stats.out in LuaCov's stats format
--- (so that LuaCov's reporters read it) and luacov.report.out, written by
--- LuaCov's own reporter when it can be loaded and otherwise by report()
--- below, in the same layout.
---
--- Counted: every chunk loaded from a file (the spec files, their helpers
--- and the code under test), as LuaCov counts by default; not counted:
--- chunks loaded from strings and luatest's own modules (embedded in the
--- binary, or the files beside this one when they are loaded from a tree).
local core = require "luatest.core"

local pairs, ipairs, type, format, tostring, tonumber, pcall = pairs, ipairs, type, string.format, tostring, tonumber,
  pcall
local concat, sort = table.concat, table.sort

local M = {}

M.STATS, M.REPORT = "luacov.stats.out", "luacov.report.out"

-- The directory of luatest's modules when they were loaded from files.
local own_dir = debug.getinfo(1, "S").source:match("^@(.*/)[^/]*$")

local jit = rawget(_G, "jit")

--- start(): counts the lines run from now on.
function M.start()
  -- Compiled traces call no line hook: LuaJIT must interpret, as under LuaCov.
  if jit then
    jit.off()
    jit.flush()
  end
  core.coverage_start()
end

--- stop(): the counts since start(): {[file] = {max = last line hit,
--- [line] = hits}}.
function M.stop()
  local raw = core.coverage_stop()
  if jit then
    jit.on()
  end
  local data = {}
  for name, lines in pairs(raw) do
    if not (own_dir and name:sub(1, #own_dir) == own_dir) then
      local max = 0
      for line in pairs(lines) do
        if line > max then
          max = line
        end
      end
      lines.max = max
      data[name] = lines
    end
  end
  return data
end

--- merge(into, data): adds the counts of data to those of into.
function M.merge(into, data)
  for name, lines in pairs(data) do
    local t = into[name]
    if not t then
      t = { max = 0 }
      into[name] = t
    end
    for i = 1, lines.max do
      local n = lines[i]
      if n then
        t[i] = (t[i] or 0) + n
      end
    end
    if lines.max > t.max then
      t.max = lines.max
    end
  end
  return into
end

--- to_wire(data), from_wire(w): the counts as JSON can carry them (a list
--- of counts per file, 0 for lines not run), and back.
function M.to_wire(data)
  local w = {}
  for name, lines in pairs(data) do
    local list = {}
    for i = 1, lines.max do
      list[i] = lines[i] or 0
    end
    w[name] = list
  end
  return w
end

function M.from_wire(w)
  local data = {}
  if type(w) ~= "table" then
    return data
  end
  for name, list in pairs(w) do
    if type(name) == "string" and type(list) == "table" then
      local lines = { max = #list }
      for i, n in ipairs(list) do
        n = tonumber(n)
        if n and n > 0 then
          lines[i] = math.floor(n)
        end
      end
      data[name] = lines
    end
  end
  return data
end

local function sorted_names(data)
  local names = {}
  for name in pairs(data) do
    names[#names + 1] = name
  end
  sort(names)
  return names
end

--- write_stats(path, data): LuaCov's stats file: for each file a line
--- `<max>:<name>`, then a line of its max counts, each followed by a space.
function M.write_stats(path, data)
  local f, err = io.open(path, "w")
  if not f then
    return nil, format("cannot write %s: %s", path, tostring(err))
  end
  for _, name in ipairs(sorted_names(data)) do
    local lines = data[name]
    local counts = {}
    for i = 1, lines.max do
      counts[i] = format("%d ", lines[i] or 0)
    end
    f:write(lines.max, ":", name, "\n", concat(counts), "\n")
  end
  f:close()
  return true
end

-- Lines that hold no code of their own, which a count of 0 does not make
-- missed: blank lines, comments, and lines of only keywords or closing
-- brackets that the compiler puts no instruction on.
local function blank(line)
  local s = line:gsub("%-%-.*$", ""):match("^%s*(.-)%s*$")
  if s == "" then
    return true
  end
  for _, w in ipairs({ "end", "else", "do", "repeat", "}", ")", "]", "{", "(" }) do
    local rest = s
    -- "end)", "end,", "},"...
    if rest:sub(1, #w) == w and rest:sub(#w + 1):match("^[%s,;%)%}%]]*$") then
      return true
    end
  end
  return s:match("^local%s+[%w_,%s]+$") ~= nil or s:match("^local%s+function%s*[%w_]*%s*%([%w_,%s%.]*%)$") ~= nil
    or s:match("^function%s+[%w_.:]+%s*%([%w_,%s%.]*%)$") ~= nil
end

local RULE = string.rep("=", 78)

--- report(path, data): a report in LuaCov's layout, for when LuaCov is
--- absent: each file with its lines prefixed by their counts (****0 for a
--- line of code not run), then a summary of hits, misses and coverage.
--- Returns true, or nil and a message.
function M.report(path, data)
  local out, err = io.open(path, "w")
  if not out then
    return nil, format("cannot write %s: %s", path, tostring(err))
  end
  local names, rows = sorted_names(data), {}
  local most = 0
  for _, name in ipairs(names) do
    for i = 1, data[name].max do
      local n = data[name][i]
      if n and n > most then
        most = n
      end
    end
  end
  local width = #tostring(most) + 1
  local total_hits, total_miss = 0, 0
  for _, name in ipairs(names) do
    local f = io.open(name, "r")
    if f then
      local lines, hits, miss, nr = data[name], 0, 0, 0
      local in_comment = nil
      out:write(RULE, "\n", name, "\n", RULE, "\n")
      for line in f:lines() do
        nr = nr + 1
        local n = lines[nr]
        local code = line
        if in_comment then
          local after = line:match("%]" .. in_comment .. "%](.*)$")
          code = after or ""
          if after then
            in_comment = nil
          end
        end
        local eq = code:match("%-%-%[(=*)%[")
        if eq and not code:match("%-%-%[" .. eq .. "%[.-%]" .. eq .. "%]") then
          in_comment = eq
          code = code:match("^(.-)%-%-%[") or ""
        end
        local prefix
        if n then
          hits = hits + 1
          prefix = format("%" .. width .. "d", n)
        elseif blank(code) or nr == 1 and line:match("^#!") then
          prefix = string.rep(" ", width)
        else
          miss = miss + 1
          prefix = string.rep("*", width - 1) .. "0"
        end
        out:write(prefix, " ", line, "\n")
      end
      f:close()
      rows[#rows + 1] = { name, hits, miss }
      total_hits, total_miss = total_hits + hits, total_miss + miss
    end
  end
  rows[#rows + 1] = { "Total", total_hits, total_miss }
  local w = { #"File", #"Hits", #"Missed" }
  for _, r in ipairs(rows) do
    for k = 1, 3 do
      local len = #tostring(r[k])
      if len > w[k] then
        w[k] = len
      end
    end
  end
  local function row(a, b, c, d)
    return format("%-" .. w[1] .. "s %-" .. w[2] .. "s %-" .. w[3] .. "s %s\n", a, b, c, d)
  end
  local dashes = string.rep("-", w[1] + w[2] + w[3] + 3 + #"Coverage") .. "\n"
  out:write(RULE, "\nSummary\n", RULE, "\n\n", row("File", "Hits", "Missed", "Coverage"), dashes)
  for i, r in ipairs(rows) do
    if i == #rows then
      out:write(dashes)
    end
    local all = r[2] + r[3]
    out:write(row(r[1], r[2], r[3], format("%.2f%%", all > 0 and r[2] / all * 100 or 0)))
  end
  out:close()
  return true
end

--- luacov_report(): luacov.report.out by LuaCov's reporter, from the
--- stats file (with the .luacov of the current directory, as luacov
--- does); nil and why not when LuaCov cannot be loaded or fails.
function M.luacov_report()
  local ok, reporter = pcall(require, "luacov.reporter")
  if not ok or type(reporter) ~= "table" or type(reporter.report) ~= "function" then
    return nil, "LuaCov is not installed"
  end
  local done, err = pcall(reporter.report)
  if not done then
    return nil, "LuaCov's reporter failed: " .. tostring(err)
  end
  return true
end

--- write(data): both files in the current directory; returns a line
--- saying what was written, or nil and a message.
function M.write(data)
  local ok, err = M.write_stats(M.STATS, data)
  if not ok then
    return nil, err
  end
  local nfiles = #sorted_names(data)
  local by, why = M.luacov_report()
  if by then
    return format("coverage of %d files: %s, %s (LuaCov's reporter)", nfiles, M.STATS, M.REPORT)
  end
  ok, err = M.report(M.REPORT, data)
  if not ok then
    return nil, err
  end
  return format("coverage of %d files: %s, %s (%s: luatest's own report)", nfiles, M.STATS, M.REPORT, why)
end

return M
