-- What Lua 5.3 and 5.4 have and LuaJIT 2.1 or PUC Lua 5.1 lack, for
-- luatest's own modules (the C side has src/lua/compat.h). Under LuaJIT and
-- 5.1 every number is a double: an integral one counts as an integer,
-- exactly up to 2^53.
local M = {}

local type, select, error, pcall, xpcall, getmetatable = type, select, error, pcall, xpcall, getmetatable
local setfenv = rawget(_G, "setfenv")
local create, resume, yield, status, running = coroutine.create, coroutine.resume, coroutine.yield,
  coroutine.status, coroutine.running
local getinfo, getlocal, traceback = debug.getinfo, debug.getlocal, debug.traceback

--- Whether this is PUC Lua 5.1, which cannot yield across pcall, xpcall, a
--- metamethod or an iterator (LuaJIT 2.1, also "Lua 5.1", can).
M.puc51 = _VERSION == "Lua 5.1" and type(rawget(_G, "jit")) ~= "table"

local unpack = table.unpack or unpack
M.unpack = unpack

local pack = table.pack or function(...)
  return { n = select("#", ...), ... }
end
M.pack = pack

M.move = table.move or function(a1, f, e, t, a2)
  a2 = a2 or a1
  if e >= f then
    if t > e or t <= f or a1 ~= a2 then
      for i = 0, e - f do
        a2[t + i] = a1[f + i]
      end
    else
      for i = e - f, 0, -1 do
        a2[t + i] = a1[f + i]
      end
    end
  end
  return a2
end

--- quote(s): string.format("%q", s) as 5.2+ and LuaJIT write it: a control
--- character as a decimal escape (5.1 leaves all but \r and \0 raw).
if M.puc51 then
  local format = string.format
  local function escape(c, digit)
    if c == '"' or c == "\\" or c == "\n" then
      return "\\" .. c .. digit
    end
    return format(digit == "" and "\\%d" or "\\%03d", c:byte()) .. digit
  end
  function M.quote(s)
    return '"' .. s:gsub('([%c"\\])(%d?)', escape) .. '"'
  end
else
  function M.quote(s)
    return string.format("%q", s)
  end
end

--- loadfile(path, mode, env) and load(chunk, name, mode, env) as 5.2 has
--- them: 5.1 takes no mode and no env (a chunk's environment is set after),
--- and loads strings with loadstring.
if M.puc51 then
  local loadstring, loadfile, load = loadstring, loadfile, load
  local function with_env(env, f, err)
    if f and env ~= nil then
      setfenv(f, env)
    end
    return f, err
  end
  local function check_mode(s, mode)
    local binary = s:byte(1) == 27
    if mode and not mode:find(binary and "b" or "t", 1, true) then
      return nil, "attempt to load a " .. (binary and "binary" or "text") .. " chunk (mode is '" .. mode .. "')"
    end
    return true
  end
  function M.loadfile(path, mode, env)
    if mode and path then
      local fh = io.open(path, "rb")
      local head = fh and fh:read(1)
      if fh then
        fh:close()
      end
      local ok, err = check_mode(head or "", mode)
      if not ok then
        return nil, err
      end
    end
    return with_env(env, loadfile(path))
  end
  function M.load(chunk, name, mode, env)
    if type(chunk) == "string" then
      local ok, err = check_mode(chunk, mode)
      if not ok then
        return nil, err
      end
      return with_env(env, loadstring(chunk, name))
    end
    return with_env(env, load(chunk, name))
  end
else
  M.loadfile, M.load = loadfile, load
end

function M.tointeger(x)
  if math.tointeger then
    return math.tointeger(x)
  end
  if type(x) == "number" and x == math.floor(x) and x >= -2 ^ 53 and x <= 2 ^ 53 then
    return x
  end
  return nil
end

function M.math_type(x)
  if math.type then
    return math.type(x)
  end
  if type(x) ~= "number" then
    return nil
  end
  return (x == math.floor(x) and x > -math.huge and x < math.huge) and "integer" or "float"
end

-- utf8.len(s, i): the code points in s from byte i, or nil and the
-- position of the first byte that is not valid UTF-8.
local function utf8_len(s, i)
  i = i or 1
  local n, len = 0, #s
  while i <= len do
    local c = s:byte(i)
    local need, lo, hi = 0, 0x80, 0xBF
    if c < 0x80 then
      need = 0
    elseif c >= 0xC2 and c <= 0xDF then
      need = 1
    elseif c == 0xE0 then
      need, lo = 2, 0xA0
    elseif c == 0xED then
      need, hi = 2, 0x9F
    elseif c >= 0xE1 and c <= 0xEF then
      need = 2
    elseif c == 0xF0 then
      need, lo = 3, 0x90
    elseif c == 0xF4 then
      need, hi = 3, 0x8F
    elseif c >= 0xF1 and c <= 0xF3 then
      need = 3
    else
      return nil, i
    end
    for k = 1, need do
      local b = s:byte(i + k)
      if not b or b < (k == 1 and lo or 0x80) or b > (k == 1 and hi or 0xBF) then
        return nil, i
      end
    end
    i = i + need + 1
    n = n + 1
  end
  return n
end
M.utf8_len = utf8 and utf8.len or utf8_len

-- ---- parameter names ---------------------------------------------------------------------

--- params(fn): the names of the Lua function fn's parameters, in order.
--- 5.2+ and LuaJIT name them for a function that is not running. 5.1 names
--- locals only in a running function, and a parameter only from its first
--- instruction on (never in an empty body), so they are read from the debug
--- information of string.dump(fn) instead (5.1's lundump.c format): the
--- first numparams local variables are the parameters.
local function dumped_params(fn)
  local d = string.dump(fn)
  local little, int, size_t, instruction, number = d:byte(7) == 1, d:byte(8), d:byte(9), d:byte(10), d:byte(11)
  local pos = 13
  local function uint(size)
    local n = 0
    for k = size - 1, 0, -1 do
      n = n * 256 + d:byte(little and pos + k or pos + size - 1 - k)
    end
    pos = pos + size
    return n
  end
  local function str()
    local n = uint(size_t)
    local s = d:sub(pos, pos + n - 2) -- (the dump keeps the terminating \0)
    pos = pos + n
    return s
  end
  local function proto()
    str() -- source
    pos = pos + 2 * int -- first and last line
    local nparams = d:byte(pos + 1)
    pos = pos + 4 -- upvalue count, nparams, vararg flags, stack size
    local ncode = uint(int)
    pos = pos + ncode * instruction
    for _ = 1, uint(int) do
      local tag = d:byte(pos)
      pos = pos + 1
      if tag == 1 then -- boolean
        pos = pos + 1
      elseif tag == 3 then -- number
        pos = pos + number
      elseif tag == 4 then -- string
        str()
      end
    end
    for _ = 1, uint(int) do
      proto()
    end
    local nlines = uint(int)
    pos = pos + nlines * int -- line numbers
    local names = {}
    for i = 1, uint(int) do
      local name = str()
      pos = pos + 2 * int -- where the local is live
      if i <= nparams then
        names[i] = name
      end
    end
    for _ = 1, uint(int) do
      str() -- upvalue names
    end
    return names
  end
  return proto()
end

local funcinfo -- core.funcinfo, once looked up (false: absent)

function M.params(fn)
  if funcinfo == nil then
    local ok, core = pcall(require, "luatest.core")
    funcinfo = ok and type(core) == "table" and core.funcinfo or false
  end
  local nparams, what
  if funcinfo then
    local _
    _, nparams, what = funcinfo(fn)
  end
  if not what then
    local info = getinfo(fn, "Su")
    nparams, what = info.nparams, info.what
  end
  if what == "C" then
    return {}
  end
  if M.puc51 then
    return dumped_params(fn)
  end
  if not nparams then
    nparams = getinfo(fn, "u").nparams
  end
  local names = {}
  for i = 1, nparams do
    names[i] = getlocal(fn, i)
  end
  return names
end

-- ---- pcall and xpcall that a task can wait in ------------------------------------------

-- PUC 5.1 cannot yield across pcall: a task that waits (a request, a
-- sleep) inside a pcall would fail. As coxpcall does, the function runs in
-- a coroutine of its own, resumed here: what it yields is yielded on to
-- whoever resumed us, and what comes back goes back in; an error ends the
-- coroutine, and resume reports it. The runtime is told that the task's
-- code runs in that coroutine (core.task_enter), so that waiting calls
-- there are the task's; a runtime that cannot be told refuses them, as in
-- any coroutine of the test's own. In the main thread, where nothing can
-- yield, the native functions serve.

local enter, leave -- core.task_enter and task_leave, once looked up (false: absent)

local function enter_task(co)
  if enter == nil then
    local core = package.loaded["luatest.core"]
    enter = type(core) == "table" and core.task_enter or false
    leave = type(core) == "table" and core.task_leave or false
  end
  return enter and enter(co)
end

-- A coroutine running f: f itself when it is a Lua function, so that the
-- levels error() counts from it are those it has under a native pcall;
-- nil for what is better left to the native pcall, which waits on nothing
-- either: what cannot be called, and error (which would name our line).
local function body(f)
  local tf = type(f)
  if tf == "function" then
    if getinfo(f, "S").what ~= "C" then
      return create(f)
    elseif f == error then
      return nil
    end
  else
    local mt = getmetatable(f)
    if type(mt) ~= "table" or mt.__call == nil then
      return nil
    end
  end
  return create(function(...)
    return f(...)
  end)
end

local function step(co, entered, ok, ...)
  if ok and status(co) == "suspended" then
    return step(co, entered, resume(co, yield(...)))
  end
  if entered then
    leave(co)
  end
  return ok, ...
end

-- The coroutine whose error a message handler is handling, while it runs.
local handling = nil

--- erring_thread(): inside the message handler of M.xpcall, the coroutine
--- whose error it handles, with its stack as it was, when the handler runs
--- after the fact (5.1); nil when it runs where the error was raised. In
--- that coroutine level 0 is the function that raised the error: what is
--- level 2 for a handler called in place.
function M.erring_thread()
  return handling
end

local function handle(co, entered, handler, ok, ...)
  if ok and status(co) == "suspended" then
    return handle(co, entered, handler, resume(co, yield(...)))
  end
  if entered then
    leave(co)
  end
  if ok then
    return true, ...
  end
  if handler == traceback then -- the common handler, told where to look
    return false, traceback(co, (...), 0)
  end
  local outer = handling
  handling = co
  local _, res = pcall(handler, (...))
  handling = outer
  return false, res
end

--- waiting_iterator(call, instead, f): the iterator f, which may wait.
--- 5.1 cannot yield out of a for loop's iterator (the loop calls it as C
--- would): there, a wait it cannot make fails at the loop with an error
--- that names what to call in a while loop `instead`.
function M.waiting_iterator(call, instead, f)
  if not M.puc51 then
    return f
  end
  return function(...)
    local core = package.loaded["luatest.core"]
    if not running() or type(core) ~= "table" or core.in_task() then
      return f(...)
    end
    local r = pack(pcall(f, ...))
    if r[1] then
      return unpack(r, 2, r.n)
    end
    local err = r[2]
    if type(err) == "string" and err:find("cannot wait outside a running task", 1, true) then
      error(call .. ": cannot wait here: Lua 5.1 cannot wait inside the iterator of a for loop (call "
        .. instead .. " in a while loop instead)", 2)
    end
    error(err, 0)
  end
end

-- Each pcall's coroutine and the thread that runs it (weak: it may be
-- abandoned with its task).
local runs_in = setmetatable({}, { __mode = "kv" })

local function start(f)
  local from = running()
  local co = from and body(f)
  if co then
    runs_in[co] = from
  end
  return co
end

--- running(): coroutine.running() as seen through those pcalls (as
--- coxpcall's): the thread that runs the pcall, not its own coroutine.
function M.running()
  local co = running()
  while runs_in[co] do
    co = runs_in[co]
  end
  return co
end

if M.puc51 then
  --- pcall(f, ...) and xpcall(f, handler, ...) that a task may wait in,
  --- as in 5.2+ and LuaJIT (there, the native ones).
  function M.pcall(f, ...)
    local co = start(f)
    if not co then
      return pcall(f, ...)
    end
    return step(co, enter_task(co), resume(co, ...))
  end

  function M.xpcall(f, handler, ...)
    local co = start(f)
    if not co then
      if select("#", ...) == 0 then
        return xpcall(f, handler)
      end
      local args = pack(...)
      return xpcall(function()
        return f(unpack(args, 1, args.n))
      end, handler)
    end
    return handle(co, enter_task(co), handler, resume(co, ...))
  end
else
  M.pcall, M.xpcall, M.running = pcall, xpcall, running
end

return M
