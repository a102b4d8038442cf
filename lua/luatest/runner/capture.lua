--- luatest.runner.capture: the output of a test (print, io.write,
--- io.stdout:write, io.stderr:write, from the test, its hooks and its
--- fixtures) kept apart while it runs, for its failure report. Only
--- Lua-level writes: these functions and fields are replaced while the test
--- runs and put back after; what C code writes to fd 1 or 2, and what goes
--- through a file object taken from io.stdout before the test, is not
--- captured.
local type, select, tostring, error, format, setmetatable = type, select, tostring, error, string.format,
  setmetatable
local concat = table.concat

local M = {}

--- The capture of the running test, or nil (the `capture` fixture finds it
--- here).
M.current = nil

local Capture = {}
Capture.__index = Capture

-- What a file's write keeps: strings and numbers, as file:write takes them.
local function append(buf, call, ...)
  local n = #buf
  for i = 1, select("#", ...) do
    local v = select(i, ...)
    local tv = type(v)
    if tv == "number" then
      v = tostring(v)
    elseif tv ~= "string" then
      error(format("bad argument #%d to '%s' (string expected, got %s)", i, call, tv), 3)
    end
    n = n + 1
    buf[n] = v
  end
end

-- A stand-in for io.stdout or io.stderr: write keeps the text in the
-- capture's buffer `which`; the other methods reach the real file.
local function stand_in(cap, which, real)
  local f = {}
  function f.write(self, ...)
    append(cap[which], "write", ...)
    return self
  end
  function f.flush(self)
    return self
  end
  function f.setvbuf()
    return true
  end
  return setmetatable(f, {
    __index = function(_, k)
      local v = real[k]
      if type(v) == "function" then
        return function(_, ...)
          return v(real, ...)
        end
      end
      return v
    end,
    __tostring = function()
      return "file (captured " .. which .. ")"
    end,
  })
end

--- new(): a capture, not started.
function M.new()
  local cap = setmetatable({ out = {}, err = {}, active = false }, Capture)
  cap.print = function(...)
    local buf = cap.out
    local n = select("#", ...)
    for i = 1, n do
      if i > 1 then
        buf[#buf + 1] = "\t"
      end
      buf[#buf + 1] = tostring((select(i, ...)))
    end
    buf[#buf + 1] = "\n"
  end
  -- A test that ends its process (os.exit) loses no output: what was
  -- captured goes out first.
  cap.exit = function(...)
    cap:stop()
    local out, err = cap:readouterr()
    cap.saved.stdout:write(out)
    cap.saved.stdout:flush()
    cap.saved.stderr:write(err)
    return cap.saved.exit(...)
  end
  cap.write = function(...)
    -- io.write writes to the default output: captured while that is still
    -- the one the test started with.
    if io.output() ~= cap.saved_output then
      return cap.saved.write(...)
    end
    append(cap.out, "write", ...)
    return cap.stdout
  end
  return cap
end

--- cap:start(): replaces print, io.write, io.stdout, io.stderr (and
--- os.exit, which writes out what was captured first).
function Capture:start()
  if self.active then
    return
  end
  self.active = true
  local saved = self.saved
  if not saved then
    saved = {}
    self.saved = saved
  end
  saved.print, saved.write, saved.stdout, saved.stderr, saved.exit = _G.print, io.write, io.stdout, io.stderr, os.exit
  self.saved_output = io.output()
  if self.real_stdout ~= saved.stdout then
    self.real_stdout, self.stdout = saved.stdout, stand_in(self, "out", saved.stdout)
  end
  if self.real_stderr ~= saved.stderr then
    self.real_stderr, self.stderr = saved.stderr, stand_in(self, "err", saved.stderr)
  end
  _G.print, io.write, io.stdout, io.stderr, os.exit = self.print, self.write, self.stdout, self.stderr, self.exit
end

--- cap:stop(): puts back what start replaced (also what the test itself
--- put in their place meanwhile).
function Capture:stop()
  if not self.active then
    return
  end
  self.active = false
  local saved = self.saved
  _G.print, io.write, io.stdout, io.stderr, os.exit = saved.print, saved.write, saved.stdout, saved.stderr, saved.exit
end

--- cap:readouterr(): the text written to stdout and to stderr since the
--- last call (or the start); what it returns is not shown again.
function Capture:readouterr()
  local o, e = self.out, self.err
  if #o == 0 and #e == 0 then
    return "", ""
  end
  self.out, self.err = {}, {}
  return concat(o), concat(e)
end

return M
