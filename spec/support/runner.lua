-- What the runner specs share: running the luatest binary (LUATEST_BIN,
-- default ./luatest) and reading what it printed, writing files, and the
-- makers of the temporary directories their fixtures hand out. (Sample
-- spec files are under spec/data/runner/, whose names the discovery
-- patterns do not match; generated ones go to a temporary directory.)
local core = require "luatest.core"
local unpack = table.unpack or unpack

local M = {}

M.BIN = os.getenv("LUATEST_BIN") or "./luatest"

function M.quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end
local quote = M.quote

function M.last_line(s)
  return s:match("([^\n]*)\n?$")
end

--- run(args, env_prefix, dir): runs the binary with the given arguments (a
--- list), in the directory `dir` if given; returns a table with out, err,
--- code and last (the last line of stdout).
function M.run(args, env_prefix, dir)
  local parts = {}
  for i, a in ipairs(args) do
    parts[i] = quote(a)
  end
  local bin = M.BIN
  if dir and bin:sub(1, 1) ~= "/" then
    local p = assert(io.popen("pwd"))
    bin = p:read("*l") .. "/" .. bin
    p:close()
  end
  local cmd = (dir and ("cd " .. quote(dir) .. " && ") or "") .. (env_prefix or "") .. quote(bin) .. " "
    .. table.concat(parts, " ")
  -- (core.exec, not io.popen: a popen's close gives no exit code before 5.2.)
  local r = assert(core.exec({ "sh", "-c", cmd }, { timeout = 120 }))
  return { out = r.stdout, err = r.stderr, code = r.status, last = M.last_line(r.stdout) }
end

--- read_file(path): the file's text, or nil when it cannot be opened.
function M.read_file(path)
  local f = io.open(path)
  if not f then
    return nil
  end
  local s = f:read("*a")
  f:close()
  return s
end

--- start(args, dir): starts the binary with the given arguments in the
--- directory dir, in the background, its stdout and stderr going to files;
--- returns a handle: h:out() and h:err() (what it wrote so far),
--- h:wait_for(text, n) (waits, inside a task, until text occurs n times in
--- its stdout; fails after 30 s), h:kill(signal) and h:exit_code() (waits
--- for it to end).
function M.start(args, dir)
  local parts = {}
  for i, a in ipairs(args) do
    parts[i] = quote(a)
  end
  local bin = M.BIN
  if bin:sub(1, 1) ~= "/" then
    local p = assert(io.popen("pwd"))
    bin = p:read("*l") .. "/" .. bin
    p:close()
  end
  local base = os.tmpname()
  local h = { out_path = base .. ".out", err_path = base .. ".err", pid_path = base .. ".pid", rc_path = base .. ".rc" }
  os.remove(base)
  local inner = "cd " .. quote(dir) .. " || exit 1; " .. quote(bin) .. " " .. table.concat(parts, " ") .. " >" .. quote(h.out_path)
    .. " 2>" .. quote(h.err_path) .. " & pid=$!; echo $pid >" .. quote(h.pid_path) .. "; wait $pid; echo $? >"
    .. quote(h.rc_path)
  assert(os.execute("sh -c " .. quote(inner) .. " </dev/null >/dev/null 2>&1 &"))
  local slurp = M.read_file
  local function until_true(what, cond)
    local deadline = core.hrtime() + 30
    while true do
      local v = cond()
      if v then
        return v
      end
      if core.hrtime() > deadline then
        error("timed out waiting for " .. what .. "; stdout so far:\n" .. (slurp(h.out_path) or "")
          .. "\nstderr:\n" .. (slurp(h.err_path) or ""), 2)
      end
      core.sleep(0.01)
    end
  end
  function h:out()
    return slurp(self.out_path) or ""
  end
  function h:err()
    return slurp(self.err_path) or ""
  end
  function h:wait_for(text, n)
    n = n or 1
    until_true(n .. " x " .. text, function()
      local s, count, pos = self:out(), 0, 1
      while true do
        local i, j = s:find(text, pos, true)
        if not i then
          break
        end
        count, pos = count + 1, j + 1
      end
      return count >= n
    end)
  end
  function h:pid()
    return until_true("the pid", function()
      local s = slurp(self.pid_path)
      return s and s:match("%d+")
    end)
  end
  function h:kill(signal)
    os.execute("kill -" .. signal .. " " .. self:pid() .. " 2>/dev/null")
  end
  function h:exit_code()
    return tonumber(until_true("the exit", function()
      local s = slurp(self.rc_path)
      return s and s:match("%d+")
    end))
  end
  function h:remove()
    for _, p in ipairs { self.out_path, self.err_path, self.pid_path, self.rc_path } do
      os.remove(p)
    end
  end
  return h
end

function M.write_file(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end
local write_file = M.write_file

-- A fresh directory named after a temporary file name, and its removal.
local function fresh_dir(suffix)
  local base = os.tmpname()
  os.remove(base)
  local dir = base .. suffix
  assert(os.execute("mkdir -p " .. quote(dir)))
  return dir, function()
    os.execute("rm -rf " .. quote(dir))
  end
end

--- tree(): a directory of spec files for discovery (under spec/ their
--- names would be collected by the main suite), and its removal; a fixture
--- function.
function M.tree()
  local dir, remove = fresh_dir(".tree")
  assert(os.execute("mkdir -p " .. quote(dir .. "/sub") .. " " .. quote(dir .. "/.hidden")))
  write_file(dir .. "/b_spec.lua", "function test_one() end\n")
  write_file(dir .. "/a_spec.lua", "function test_x() end\n")
  write_file(dir .. "/sub/test_a.lua", "function test_two() end\n")
  write_file(dir .. "/helper.lua", "function test_no() error('not collected') end\n")
  write_file(dir .. "/.hidden/x_spec.lua", "function test_hidden() end\n")
  return dir, remove
end

--- tmpdir(): an empty temporary directory, and its removal.
function M.tmpdir()
  return fresh_dir(".dir")
end

--- many(): six spec files holding 1 to 6 tests (for --shard and
--- --shuffle), and their removal.
function M.many()
  local dir, remove = fresh_dir(".many")
  for i = 1, 6 do
    local lines = {}
    for j = 1, i do
      lines[j] = string.format("function test_%d_%d() end", i, j)
    end
    write_file(string.format("%s/m%d_spec.lua", dir, i), table.concat(lines, "\n") .. "\n")
  end
  return dir, remove
end

function M.lines_of(s)
  local out = {}
  for line in s:gmatch("[^\n]+") do
    out[#out + 1] = line
  end
  return out
end

function M.sorted(list)
  local copy = { unpack(list) }
  table.sort(copy)
  return copy
end

--- failure_ids(out): the ids of the failures a text report lists, sorted.
function M.failure_ids(out)
  local ids = {}
  for line in out:gmatch("[^\n]+") do
    local id = line:match("^FAIL (.+)$") or line:match("^ERROR (.+)$")
    if id then
      ids[#ids + 1] = id
    end
  end
  return M.sorted(ids)
end

--- before(s, a, b): whether a occurs before b in s (both must occur).
function M.before(s, a, b)
  local i, j = s:find(a, 1, true), s:find(b, 1, true)
  assert(i, "missing: " .. a)
  assert(j, "missing: " .. b)
  return i < j
end

--- read_junit(path): what python3's ElementTree reads in a JUnit file, as
--- a Lua table.
function M.read_junit(path)
  local script = [[
import json, sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
def counts(e):
    return [e.tag] + [int(e.get(k)) for k in ("tests", "failures", "errors", "skipped")] + [float(e.get("time"))]
suites = []
for s in root:
    cases = []
    for c in s:
        kids = [{"tag": k.tag, "message": k.get("message"), "type": k.get("type"), "text": k.text} for k in c]
        cases.append({"classname": c.get("classname"), "name": c.get("name"), "file": c.get("file"),
                      "line": c.get("line"), "time": float(c.get("time")), "kids": kids})
    suites.append({"name": s.get("name"), "counts": counts(s), "cases": cases})
print(json.dumps({"counts": counts(root), "suites": suites}))
]]
  local r = assert(core.exec({ "python3", "-c", script, path }, { timeout = 60 }))
  assert(r.status == 0, "python3 could not read the JUnit XML: " .. r.stdout .. r.stderr)
  return require("luatest.json").decode(r.stdout)
end

--- log_of(dir): the lines a logging spec file's tests wrote to dir/log.
function M.log_of(dir)
  local text = M.read_file(dir .. "/log")
  return text and M.lines_of(text) or {}
end

--- logging_spec_file(dir, name, body): writes dir/name, a spec file whose
--- LOG(...) appends a line to dir/log (what a passing test prints may be
--- captured; the log is not), and returns its path.
function M.logging_spec_file(dir, name, body)
  local path = dir .. "/" .. name
  M.write_file(path, string.format([[
local luatest = require "luatest"
local function LOG(...)
  local f = assert(io.open(%q, "a"))
  local parts = {}
  for i = 1, select("#", ...) do parts[i] = tostring((select(i, ...))) end
  f:write(table.concat(parts, " "), "\n")
  f:close()
end
]], dir .. "/log") .. body)
  return path
end

return M
