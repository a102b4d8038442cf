--- luatest.builtin_plugin: the built-in fixtures pytest users reach for,
--- registered when the runner loads this module as a plugin: tmp_path (a
--- fresh directory, removed after a passing test, kept and named in the
--- report of a failing one), monkeypatch (setattr, delattr, setenv, delenv,
--- chdir, undone after the test in reverse order) and capture
--- (capture:readouterr()).
local core = require "luatest.core"
local fixtures = require "luatest.fixtures"

local type, error, format, tostring, pcall, setmetatable, getmetatable = type, error, string.format, tostring,
  pcall, setmetatable, getmetatable
local builtin = fixtures.builtin_fixture
local rt = require("luatest")._runtime

local M = {}

-- ---- tmp_path -----------------------------------------------------------------------------

local function temp_root()
  local dir = os.getenv("TMPDIR")
  if dir == nil or dir == "" then
    dir = "/tmp"
  end
  while #dir > 1 and dir:sub(-1) == "/" do
    dir = dir:sub(1, -2)
  end
  return dir
end

--- remove_tree(path): removes a directory and what is in it, without
--- following symbolic links; true, or nil and a message.
function M.remove_tree(path)
  local entries, err = core.listdir(path)
  if not entries then
    return nil, err
  end
  for _, e in ipairs(entries) do
    local child = path .. "/" .. e[1]
    if e[2] == "dir" then
      local ok, rerr = M.remove_tree(child)
      if not ok then
        return nil, rerr
      end
    else
      -- (A link is removed itself; an entry of unknown type that is a
      -- directory is emptied first.)
      local ok, rerr = os.remove(child)
      if not ok then
        if e[2] == "other" and core.stat(child) == "dir" then
          ok, rerr = M.remove_tree(child)
        end
        if not ok then
          return nil, rerr
        end
      end
    end
  end
  return os.remove(path)
end

local function after_test(fn)
  local list = rt.after_test
  if not list then
    list = {}
    rt.after_test = list
  end
  list[#list + 1] = fn
end

builtin("tmp_path", function()
  local path, err = core.mkdtemp(temp_root() .. "/luatest-tmp_path-XXXXXX")
  if not path then
    error("tmp_path: cannot make a directory: " .. tostring(err), 0)
  end
  after_test(function(res)
    if res.status == "fail" or res.status == "error" then
      local notes = res.notes or {}
      notes[#notes + 1] = "tmp_path kept: " .. path
      res.notes = notes
    else
      local ok, rerr = M.remove_tree(path)
      if not ok then
        error(format("tmp_path: cannot remove %s: %s", path, tostring(rerr)), 0)
      end
    end
  end)
  return path
end)

-- ---- monkeypatch --------------------------------------------------------------------------

local MonkeyPatch = {}
MonkeyPatch.__index = MonkeyPatch
MonkeyPatch.__name = "luatest.MonkeyPatch"

local function check_self(self, call)
  if type(self) ~= "table" or getmetatable(self) ~= MonkeyPatch then
    error(format("monkeypatch:%s: call it with ':' (monkeypatch:%s(...))", call, call), 3)
  end
end

local function check_table(call, tbl)
  if type(tbl) ~= "table" then
    error(format("monkeypatch:%s: expected a table as argument 1, got %s", call, type(tbl)), 3)
  end
end

local function check_name(call, name)
  if type(name) ~= "string" or name == "" or name:find("=", 1, true) then
    error(format("monkeypatch:%s: expected a variable name (a string without '=') as argument 1, got %s", call,
      type(name) == "string" and ("'" .. name .. "'") or type(name)), 3)
  end
end

local function push(self, undo)
  self._undo[#self._undo + 1] = undo
end

--- monkeypatch:setattr(tbl, key, value): tbl[key] = value until the test
--- ends (also when tbl had no such key: it is removed again).
function MonkeyPatch:setattr(tbl, key, value)
  check_self(self, "setattr")
  check_table("setattr", tbl)
  if key == nil then
    error("monkeypatch:setattr: expected a key as argument 2, got nil", 2)
  end
  local old = tbl[key]
  push(self, function()
    tbl[key] = old
  end)
  tbl[key] = value
end

--- monkeypatch:delattr(tbl, key, raising): removes tbl[key] until the test
--- ends; a missing key is an error unless raising is false.
function MonkeyPatch:delattr(tbl, key, raising)
  check_self(self, "delattr")
  check_table("delattr", tbl)
  local old = tbl[key]
  if old == nil then
    if raising == false then
      return
    end
    error(format("monkeypatch:delattr: the table has no key %s", tostring(key)), 2)
  end
  push(self, function()
    tbl[key] = old
  end)
  tbl[key] = nil
end

local function set_env(call, name, value)
  local ok, err = core.setenv(name, value)
  if not ok then
    error(format("monkeypatch:%s(%s): %s", call, name, tostring(err)), 0)
  end
end

--- monkeypatch:setenv(name, value): sets a variable of the process
--- environment (child processes see it) until the test ends.
function MonkeyPatch:setenv(name, value)
  check_self(self, "setenv")
  check_name("setenv", name)
  if type(value) ~= "string" and type(value) ~= "number" then
    error(format("monkeypatch:setenv: expected a string value as argument 2, got %s", type(value)), 2)
  end
  local old = os.getenv(name)
  push(self, function()
    set_env("setenv", name, old)
  end)
  set_env("setenv", name, tostring(value))
end

--- monkeypatch:delenv(name, raising): removes a variable of the process
--- environment until the test ends; an unset one is an error unless
--- raising is false.
function MonkeyPatch:delenv(name, raising)
  check_self(self, "delenv")
  check_name("delenv", name)
  local old = os.getenv(name)
  if old == nil then
    if raising == false then
      return
    end
    error(format("monkeypatch:delenv: %s is not set", name), 2)
  end
  push(self, function()
    set_env("delenv", name, old)
  end)
  set_env("delenv", name, nil)
end

--- monkeypatch:chdir(path): changes the current directory until the test
--- ends.
function MonkeyPatch:chdir(path)
  check_self(self, "chdir")
  if type(path) ~= "string" then
    error(format("monkeypatch:chdir: expected a path string as argument 1, got %s", type(path)), 2)
  end
  local old, cerr = core.cwd()
  if not old then
    error("monkeypatch:chdir: " .. tostring(cerr), 2)
  end
  local ok, err = core.chdir(path)
  if not ok then
    error("monkeypatch:chdir: " .. tostring(err), 2)
  end
  push(self, function()
    local ok2, err2 = core.chdir(old)
    if not ok2 then
      error("monkeypatch: cannot go back to " .. old .. ": " .. tostring(err2), 0)
    end
  end)
end

--- monkeypatch:undo(): undoes everything now, last change first.
function MonkeyPatch:undo()
  check_self(self, "undo")
  local list, first = self._undo, nil
  self._undo = {}
  for i = #list, 1, -1 do
    local ok, err = pcall(list[i])
    if not ok and not first then
      first = err
    end
  end
  if first then
    error(first, 0)
  end
end

builtin("monkeypatch", function()
  local mp = setmetatable({ _undo = {} }, MonkeyPatch)
  return mp, function()
    mp:undo()
  end
end)

-- ---- capture ------------------------------------------------------------------------------

local Capture = {}
Capture.__index = Capture

--- capture:readouterr(): what the test wrote to stdout and to stderr
--- since the last call, as two strings.
function Capture:readouterr()
  local cap = require("luatest.runner.capture").current
  if not cap then
    error("capture:readouterr: no test is running", 2)
  end
  return cap:readouterr()
end

builtin("capture", function()
  local cap = require("luatest.runner.capture").current
  if not cap then
    error("capture: the fixture works only in a test run by luatest", 0)
  end
  -- (With -s too: a test that reads its output gets it.)
  cap:start()
  return setmetatable({}, Capture)
end)

return M
