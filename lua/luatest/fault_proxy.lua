--- luatest.fault_proxy: FaultProxy, an in-process TCP proxy with
--- Toxiproxy's toxics, to test what a client does when the wire misbehaves.
--- test_utils exports it; a TestClient (and aiohttp_client) takes one.
local core = require "luatest.core"

local format, type, error, setmetatable, tostring, pairs, tonumber = string.format, type, error, setmetatable,
  tostring, pairs, tonumber

local M = {}

-- Each toxic's parameters; true: required.
local TOXICS = {
  latency = { ms = false, jitter = false },
  bandwidth = { kbps = true },
  slicer = { bytes = true, delay_ms = false },
  limit_data = { bytes = true },
  timeout = { ms = false },
  reset_peer = { after_ms = false },
  slow_close = { ms = false },
}
local DIRECTIONS = { upstream = true, downstream = true }

-- A checked copy of a toxics table ({downstream = {name = params}, upstream = ...}).
local function check_toxics(call, toxics, level)
  level = level + 1
  local out = { upstream = {}, downstream = {} }
  if toxics == nil then
    return out
  end
  if type(toxics) ~= "table" then
    error(format("%s: toxics must be a table, got %s", call, type(toxics)), level)
  end
  for dir, set in pairs(toxics) do
    if not DIRECTIONS[dir] then
      error(format("%s: unknown direction '%s' (upstream or downstream)", call, tostring(dir)), level)
    end
    if type(set) ~= "table" then
      error(format("%s: %s must be a table of toxics, got %s", call, dir, type(set)), level)
    end
    for name, params in pairs(set) do
      local spec = TOXICS[name]
      if not spec then
        error(format("%s: unknown toxic '%s'", call, tostring(name)), level)
      end
      if type(params) ~= "table" then
        error(format("%s: %s.%s must be a table of parameters, got %s", call, dir, name, type(params)), level)
      end
      local copy = {}
      for k, v in pairs(params) do
        if spec[k] == nil then
          error(format("%s: %s: unknown option '%s'", call, name, tostring(k)), level)
        end
        if type(v) ~= "number" or not (v >= 0) or v == math.huge then
          error(format("%s: %s.%s must be a number >= 0, got %s", call, name, k,
            type(v) == "number" and tostring(v) or type(v)), level)
        end
        copy[k] = v
      end
      for k, required in pairs(spec) do
        if required and copy[k] == nil then
          error(format("%s: %s needs %s", call, name, k), level)
        end
      end
      if (name == "bandwidth" and copy.kbps <= 0) or (name == "slicer" and copy.bytes < 1) then
        error(format("%s: %s.%s must be > 0", call, name, name == "bandwidth" and "kbps" or "bytes"), level)
      end
      out[dir][name] = copy
    end
  end
  return out
end

local FaultProxy = {}
FaultProxy.__index = FaultProxy
FaultProxy.__name = "FaultProxy"

-- host, port of a target: a server object (started here if it was not)
-- or a URL "http://HOST:PORT".
local function target_address(target)
  if type(target) == "string" then
    local host, port = target:match("^http://%[([^%]]+)%]:(%d+)/?$")
    if not host then
      host, port = target:match("^http://([^/:]+):(%d+)/?$")
    end
    if not host then
      error(format("FaultProxy: expected a server or a URL \"http://HOST:PORT\" as argument 1, got '%s'", target), 3)
    end
    return host, tonumber(port)
  end
  if type(target) == "table" and type(target.start_server) == "function" then
    if not target.started and not target.closed then
      target:start_server()
    end
    if type(target.port) ~= "number" then
      error("FaultProxy: the target server is closed", 3)
    end
    return target.host or "127.0.0.1", target.port
  end
  error("FaultProxy: expected a server or a URL \"http://HOST:PORT\" as argument 1, got " .. type(target), 3)
end

--- FaultProxy(target, toxics): listens on 127.0.0.1 (a port the OS
--- chooses) and forwards each connection to target, a started server or
--- "http://HOST:PORT", with toxics = {downstream = {latency = {ms = 100}},
--- upstream = {...}} (downstream: towards the client).
function M.FaultProxy(target, toxics)
  local host, port = target_address(target)
  local checked = check_toxics("FaultProxy", toxics, 2)
  local p, err = core.proxy(host, port, checked)
  if not p then
    error("FaultProxy: " .. tostring(err), 2)
  end
  local lport, lerr = p:listen("127.0.0.1", 0)
  if not lport then
    p:close()
    error("FaultProxy: " .. tostring(lerr), 2)
  end
  local is_server = type(target) == "table"
  return setmetatable({
    _p = p,
    target = target,
    host = "127.0.0.1",
    port = lport,
    -- An https server's TLS passes through as bytes: a client of the
    -- proxy speaks https and trusts the server's certificate.
    scheme = is_server and target.scheme or "http",
    certificate = is_server and target.certificate or nil,
    started = true,
    closed = false,
    skip_url_asserts = false,
    app = is_server and target.app or nil,
    _handler_errors = is_server and target._handler_errors or {},
    _name = "FaultProxy",
  }, FaultProxy)
end

--- Listening starts when the proxy is made: nothing to do (TestClient calls it).
function FaultProxy:start_server()
  if self.closed then
    error("FaultProxy:start_server: attempt to use a closed proxy", 2)
  end
end

--- The absolute URL of a path through the proxy.
function FaultProxy:make_url(path)
  path = path or "/"
  if type(path) ~= "string" or path:sub(1, 1) ~= "/" then
    error(format("FaultProxy:make_url: expected a path starting with '/', got '%s'", tostring(path)), 2)
  end
  return format("http://%s:%d%s", self.host, self.port or 0, path)
end

--- Replaces every toxic, on open connections too.
function FaultProxy:set(toxics)
  if self.closed then
    error("proxy:set: attempt to use a closed proxy", 2)
  end
  self._p:set(check_toxics("proxy:set", toxics, 2))
end

--- Removes every toxic.
function FaultProxy:clear()
  if self.closed then
    error("proxy:clear: attempt to use a closed proxy", 2)
  end
  self._p:set(check_toxics("proxy:clear", nil, 2))
end

--- Connections accepted so far.
function FaultProxy:stats()
  return self._p:stats()
end

--- Closes the listener and every connection through it. Safe to call twice.
function FaultProxy:close()
  if self.closed then
    return
  end
  self.closed = true
  self._p:close()
  self.port = nil
end

function M.is_fault_proxy(x)
  return getmetatable(x) == FaultProxy
end

return M
