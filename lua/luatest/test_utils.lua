--- luatest.test_utils: TestServer, RawTestServer and TestClient, shaped like
--- aiohttp.test_utils, plus the loop helpers. Servers bind 127.0.0.1 on a
--- port the OS chooses unless one is given.
local core = require "luatest.core"
local web = require "luatest.web"
local helpers = require "luatest.helpers"
local multidict = require "luatest.multidict"
local client = require "luatest.client"
local formdata = require "luatest.formdata"
local errors = require "luatest.client_exceptions"
local fault_proxy = require "luatest.fault_proxy"

local CIMultiDict = multidict.CIMultiDict
local format, type, error, setmetatable, tostring = string.format, type, error, setmetatable, tostring
local compat = require "luatest.compat"
local pack, move = compat.pack, compat.move
local pcall, xpcall = compat.pcall, compat.xpcall -- (what they run may wait, under 5.1 too)

local M = {}

--- Returns (and forgets) the tracebacks of handler errors seen so far.
function M.take_handler_errors()
  local list = web._handler_errors
  local out = move(list, 1, #list, 1, {})
  for i = #list, 1, -1 do
    list[i] = nil
  end
  return out
end

-- ---- servers --------------------------------------------------------------------------

local BaseTestServer = {}
BaseTestServer.__index = BaseTestServer

-- Options a test server hands to its connections (aiohttp's handler
-- keyword arguments, and the header deadline nginx has).
local CONNECTION_OPTIONS = {
  "header_timeout", "keepalive_timeout", "max_line_size", "max_field_size", "max_headers",
}

local SERVER_OPTIONS = helpers.names { "scheme", "host", "port", "skip_url_asserts", "header_timeout",
  "keepalive_timeout", "max_line_size", "max_field_size", "max_headers", "loop", "ssl", "shutdown_timeout",
  "handler_cancellation", "access_log", "access_log_class", "access_log_format" }

-- A PEM given as itself or as the path of a file holding it.
local function pem_of(name, what, v)
  if type(v) ~= "string" then
    error(format("%s: ssl.%s must be a PEM string or a file path, got %s", name, what, type(v)), 4)
  end
  if v:find("-----BEGIN", 1, true) then
    return v
  end
  local f, err = io.open(v, "rb")
  if not f then
    error(format("%s: ssl.%s: %s", name, what, err), 4)
  end
  local pem = f:read("*a")
  f:close()
  return pem
end

-- The certificate and key of an https test server: the caller's
-- ({cert =, key =}), or the one made for the process's tests.
local function tls_pair(name, ssl)
  if ssl == nil then
    local cert, key = core.tls_test_cert()
    return { cert = cert, key = key }
  end
  if type(ssl) ~= "table" then
    error(format("%s: ssl must be a table {cert =, key =}, got %s", name, type(ssl)), 4)
  end
  return { cert = pem_of(name, "cert", ssl.cert), key = pem_of(name, "key", ssl.key) }
end

local function new_server(class, name, opts)
  opts = opts or {}
  if type(opts) ~= "table" then
    error(format("%s: options must be a table, got %s", name, type(opts)), 3)
  end
  helpers.check_options(name, opts, SERVER_OPTIONS, 3)
  local scheme = opts.scheme or "http"
  if scheme ~= "http" and scheme ~= "https" then
    error(format("%s: scheme '%s' is not supported (\"http\" or \"https\")", name, tostring(scheme)), 3)
  end
  local connection = {}
  if next(opts) ~= nil then
    for _, name in ipairs(CONNECTION_OPTIONS) do
      connection[name] = opts[name]
    end
  end
  local certificate
  if scheme == "https" then
    connection.tls = tls_pair(name, opts.ssl)
    certificate = connection.tls.cert
  elseif opts.ssl ~= nil then
    error(format("%s: ssl is for scheme \"https\"", name), 3)
  end
  return setmetatable({
    _connection = connection,
    scheme = scheme,
    certificate = certificate,
    host = opts.host or "127.0.0.1",
    port = opts.port,
    started = false,
    closed = false,
    skip_url_asserts = opts.skip_url_asserts or false,
    _name = name,
    _handler_errors = {},
  }, class)
end

--- Starts listening (once; later calls do nothing).
function BaseTestServer:start_server()
  if self.started then
    return
  end
  if self.closed then
    error(self._name .. ":start_server: the server was closed", 2)
  end
  local server_opts = self:_server_opts()
  for name, value in pairs(self._connection) do
    server_opts[name] = value
  end
  local srv = core.server(server_opts)
  local port, err = srv:listen(self.host, self.port or 0)
  if not port then
    srv:close()
    error(format("%s:start_server: %s", self._name, err), 2)
  end
  self._srv = srv
  self.port = port
  self.started = true
  self:_started()
end

--- The absolute URL of a path on this server.
function BaseTestServer:make_url(path)
  path = path or "/"
  local absolute = path:find("^%a[%w+.-]*://") ~= nil
  if not self.skip_url_asserts and (absolute or path:sub(1, 1) ~= "/") then
    error(format("%s:make_url: expected a path starting with '/', got '%s'", self._name, path), 2)
  end
  if absolute then
    return path -- joined onto the server's root, an absolute URL stays itself
  end
  return format("%s://%s:%d%s", self.scheme, self.host, self.port or 0, path)
end

--- Stops the server: closes the listener and its connections and cancels
--- handlers still running. Safe to call twice.
function BaseTestServer:close()
  if self.closed then
    return
  end
  self.closed = true
  if self._srv then
    self._srv:close()
    self._srv = nil
    self.port = nil -- (as aiohttp: a closed server has no port)
    self:_closed()
  end
end

function BaseTestServer:_started() end
function BaseTestServer:_closed() end

local TestServer = setmetatable({}, { __index = BaseTestServer })
TestServer.__index = TestServer
TestServer.__name = "TestServer"

--- A test server for an Application.
function M.TestServer(app, opts)
  if not web.is_application(app) then
    error("TestServer: expected an Application as argument 1, got " .. type(app), 2)
  end
  local self = new_server(TestServer, "TestServer", opts)
  self.app = app
  return self
end

function TestServer:_server_opts()
  local app = self.app
  app:freeze()
  return {
    router = app.router._core,
    dispatch = web._dispatcher_for(self),
    app = app,
    client_max_size = app.client_max_size,
    lua_only = #app.middlewares > 0 or #rawget(app, "_subapps") > 0,
  }
end

-- The application's signals, in aiohttp's order: a sub-application's run
-- where add_subapp put them in its parent's lists.
function TestServer:_started()
  self.app:_signal("on_startup")
end

function TestServer:_closed()
  self.app:_signal("on_shutdown")
  self.app:_signal("on_cleanup")
end

local RawTestServer = setmetatable({}, { __index = BaseTestServer })
RawTestServer.__index = RawTestServer
RawTestServer.__name = "RawTestServer"

--- A test server whose one handler gets every request.
function M.RawTestServer(handler, opts)
  local t = type(handler)
  if t ~= "function" and not (t == "table" and getmetatable(handler) and getmetatable(handler).__call) then
    error("RawTestServer: expected a handler function as argument 1, got " .. t, 2)
  end
  local self = new_server(RawTestServer, "RawTestServer", opts)
  self.handler = handler
  return self
end

function RawTestServer:_server_opts()
  return { handler = self.handler, dispatch = web._dispatcher_for(self) }
end

function M.is_test_server(x)
  local mt = getmetatable(x)
  return mt == TestServer or mt == RawTestServer
end

M.FaultProxy, M.is_fault_proxy = fault_proxy.FaultProxy, fault_proxy.is_fault_proxy

-- ---- the client ---------------------------------------------------------------------------
-- Responses, errors, cookies and forms are the client's (luatest.client);
-- these names stay here, where aiohttp's test_utils users find them.

M.ClientResponseError = errors.ClientResponseError

--- CookieJar(): the test client's jar, which accepts cookies from IP
--- addresses such as 127.0.0.1, as aiohttp's test client does.
function M.CookieJar(opts)
  opts = opts or {}
  if opts.unsafe == nil then
    opts.unsafe = true
  end
  return client.CookieJar(opts)
end

M._encode_form = formdata.encode_form
M._encode_multipart = formdata.encode_multipart

local TestClient = {}
TestClient.__index = TestClient
TestClient.__name = "TestClient"

local test_client_options = { cookie_jar = true, raise_server_exceptions = true, headers = true, timeout = true,
  raise_for_status = true, auth = true, auto_decompress = true, cookies = true, loop = true,
  ssl = true }

--- TestClient(server, opts): a ClientSession bound to a TestServer,
--- RawTestServer or FaultProxy (opts: cookie_jar, headers, cookies, timeout, auth,
--- raise_for_status, auto_decompress, raise_server_exceptions).
function M.TestClient(server, opts)
  if not M.is_test_server(server) and not M.is_fault_proxy(server) then
    error("TestClient: expected a TestServer, RawTestServer or FaultProxy as argument 1, got " .. type(server), 2)
  end
  opts = opts or {}
  if type(opts) ~= "table" then
    error("TestClient: options must be a table, got " .. type(opts), 2)
  end
  for k in pairs(opts) do
    if not test_client_options[k] then
      error(format("TestClient: unknown option '%s'", tostring(k)), 2)
    end
  end
  return setmetatable({
    server = server,
    app = server.app,
    host = server.host,
    port = server.port,
    scheme = server.scheme,
    cookie_jar = opts.cookie_jar or M.CookieJar(),
    _opts = opts,
    _raise = opts.raise_server_exceptions or false,
    _closed = false,
  }, TestClient)
end

--- Starts the server if needed, and the client's session.
function TestClient:start_server()
  if self._closed then
    error("TestClient:start_server: attempt to use a closed client", 2)
  end
  self.server:start_server()
  self.port = self.server.port
  if not self.session then
    local o = self._opts
    local session = client.ClientSession {
      base_url = format("%s://%s:%d", self.scheme, self.host, self.port),
      cookie_jar = self.cookie_jar,
      headers = o.headers,
      cookies = o.cookies,
      timeout = o.timeout,
      auth = o.auth,
      raise_for_status = o.raise_for_status,
      auto_decompress = o.auto_decompress,
      -- The client of an https server trusts its certificate, as Go's
      -- httptest.Server.Client() does.
      ssl = o.ssl == nil and self.server.certificate and { ca_pem = self.server.certificate } or o.ssl,
    }
    session._server_errors = self.server._handler_errors
    session._raise_server = self._raise
    self.session = session
    self._client = session._client
  end
end

function TestClient:make_url(path)
  return self.server:make_url(path)
end

-- A target is a path, or an absolute URL when the server allows them
-- (skip_url_asserts); anything else is an error naming the call.
-- The session for a call on path: the client open, its server started,
-- and path a path (or an absolute URL when the server allows them).
local function session_for(self, call, path)
  if self._closed then
    error(call .. ": attempt to use a closed client", 3)
  end
  if not self.session then
    self:start_server()
  end
  if type(path) ~= "string" then
    error(format("%s: path must be a string, got %s", call, type(path)), 3)
  end
  if path:byte(1) ~= 47 and (not path:find("^%a[%w+.-]*://") or not self.server.skip_url_asserts) then
    error(format("%s: expected a path starting with '/', got '%s'", call, path), 3)
  end
  self.session._base[3] = self.port -- (a test may point the client elsewhere)
  return self.session
end

--- Sends a request and returns its ClientResponse once its head arrived
--- (the options of ClientSession:request).
function TestClient:request(method, path, opts)
  local call = client._call_name(method, 2)
  return session_for(self, call, path):_request(call, method, path, opts, 2)
end

--- Opens a WebSocket to path on the server (the options of
--- ClientSession:ws_connect). With skip_url_asserts, path may be an
--- absolute http:// or ws:// URL.
function TestClient:ws_connect(path, opts)
  return session_for(self, "client:ws_connect", path):ws_connect(path, opts)
end

for _, m in ipairs { "get", "post", "put", "patch", "delete", "head", "options" } do
  local method = m:upper()
  local call = "client:" .. m
  TestClient[m] = function(self, path, opts)
    return session_for(self, call, path):_request(call, method, path, opts, 2)
  end
end

--- Closes the client and its server.
function TestClient:close()
  if self._closed then
    return
  end
  self._closed = true
  if self.session then
    -- (its connections close in the same loop turn as the server's, which
    -- the server's close waits for)
    local session = self.session
    if session._close_nowait then
      session:_close_nowait()
    else
      session:close()
    end
  end
  self.server:close()
  self.port = nil
end

function M.is_test_client(x)
  return getmetatable(x) == TestClient
end

-- ---- the loop ---------------------------------------------------------------------------

local Loop = {}
Loop.__index = Loop
Loop.__name = "Loop"

--- Runs fn(...) as a task until it finishes and returns its results.
function Loop:run_until_complete(fn, ...)
  return core.run_until_complete(fn, ...)
end

--- Loop time in seconds.
function Loop:time()
  return core.time()
end

--- Finishes pending closes.
function Loop:close()
  for _ = 1, 4 do
    core.step(false)
  end
end
Loop.__close = Loop.close

local the_loop = setmetatable({}, Loop)

function M.setup_test_loop()
  return the_loop
end

function M.teardown_test_loop(loop)
  (loop or the_loop):close()
end

--- With fn: calls fn(loop) and tears down. Without: returns the loop, which
--- is also a to-be-closed value.
function M.loop_context(fn)
  if fn == nil then
    return the_loop
  end
  local ok, err = pcall(fn, the_loop)
  the_loop:close()
  if not ok then
    error(err, 0)
  end
end

--- A TCP port that was free a moment ago.
function M.unused_port()
  local srv = core.server { handler = function() end, dispatch = function() end }
  local port, err = srv:listen("127.0.0.1", 0)
  srv:close()
  if not port then
    error("unused_port: " .. err, 2)
  end
  return port
end

-- ---- mocks ------------------------------------------------------------------------------------

--- A Request made with no network, of the same type the servers produce,
--- so handlers can be called directly. opts: headers, match_info, app,
--- version ("1.1"), closing, payload (the body), client_max_size.
local MOCK_OPTIONS = helpers.names { "headers", "match_info", "version", "closing", "app", "writer", "protocol",
  "transport", "payload", "sslcontext", "client_max_size", "loop" }

function M.make_mocked_request(method, path, opts)
  if type(method) ~= "string" then
    error("make_mocked_request: method must be a string, got " .. type(method), 2)
  end
  if type(path) ~= "string" then
    error("make_mocked_request: path must be a string, got " .. type(path), 2)
  end
  helpers.check_options("make_mocked_request", opts, MOCK_OPTIONS, 2)
  opts = opts or {}
  local flat = multidict.flat_pairs(opts.headers)
  local has_host = false
  for i = 1, #flat, 2 do
    if flat[i]:lower() == "host" then
      has_host = true
    end
  end
  if not has_host then
    flat[#flat + 1] = "Host"
    flat[#flat + 1] = "localhost"
  end
  -- As aiohttp's: the request's own limit, 1024^2 unless given (an app
  -- passed in does not lend it its client_max_size); 0 means none.
  local max_size = opts.client_max_size
  if max_size == nil then
    max_size = 1024 * 1024
  elseif type(max_size) ~= "number" or max_size < 0 or max_size ~= math.floor(max_size) then
    error("make_mocked_request: client_max_size must be a whole number >= 0, got " .. tostring(max_size), 2)
  end
  local app = opts.app
  if app == nil then
    app = web.Application { client_max_size = max_size }
  end
  local version = opts.version or "1.1"
  if type(version) == "table" then
    version = version[1] .. "." .. version[2]
  end
  local scheme -- (sslcontext: a request that came over TLS, as aiohttp's)
  if opts.sslcontext then
    scheme = "https"
  end
  local request = core.mock_request(method:upper(), path, flat, opts.payload, version, opts.closing, app,
    max_size, nil, scheme)
  if opts.match_info then
    request:_set_match(opts.match_info)
  end
  return request
end

local deep_equal
deep_equal = function(a, b)
  if a == b then
    return true
  end
  if type(a) ~= "table" or type(b) ~= "table" then
    return false
  end
  for k, v in pairs(a) do
    if not deep_equal(v, b[k]) then
      return false
    end
  end
  for k in pairs(b) do
    if a[k] == nil then
      return false
    end
  end
  return true
end

local function show_args(args)
  local parts = {}
  for i = 1, args.n do
    parts[i] = type(args[i]) == "string" and compat.quote(args[i]) or tostring(args[i])
  end
  return "(" .. table.concat(parts, ", ") .. ")"
end

local Mock = {}
Mock.__name = "MockedCoro"
Mock.__index = Mock
Mock.__call = function(self, ...)
  self.call_count = self.call_count + 1
  self.calls[self.call_count] = pack(...)
  if self._raise ~= nil then
    error(self._raise, 2)
  end
  return self.return_value
end

local function same_args(call, args)
  if call.n ~= args.n then
    return false
  end
  for i = 1, args.n do
    if not deep_equal(call[i], args[i]) then
      return false
    end
  end
  return true
end

--- Fails unless the last call had exactly these arguments.
function Mock:assert_called_with(...)
  local args = pack(...)
  local last = self.calls[self.call_count]
  if not last then
    error("assert_called_with: expected a call " .. show_args(args) .. ", but it was never called", 2)
  end
  if not same_args(last, args) then
    error(format("assert_called_with: expected call %s, last call was %s", show_args(args), show_args(last)), 2)
  end
end

--- Fails unless called exactly once, with these arguments.
function Mock:assert_called_once_with(...)
  if self.call_count ~= 1 then
    error(format("assert_called_once_with: expected 1 call, got %d", self.call_count), 2)
  end
  local args = pack(...)
  if not same_args(self.calls[1], args) then
    error(format("assert_called_once_with: expected call %s, got %s", show_args(args), show_args(self.calls[1])), 2)
  end
end

function Mock:assert_not_called()
  if self.call_count ~= 0 then
    error(format("assert_not_called: expected no call, got %d (first %s)", self.call_count, show_args(self.calls[1])), 2)
  end
end

function Mock:reset_mock()
  self.calls = {}
  self.call_count = 0
end

--- A callable mock that returns return_value (or raises raise_error) and
--- records its calls: m.call_count, m.calls[i] (packed arguments).
function M.make_mocked_coro(return_value, raise_error)
  return setmetatable({ return_value = return_value, _raise = raise_error, calls = {}, call_count = 0 }, Mock)
end

-- ---- AioHTTPTestCase ----------------------------------------------------------------------

local AioHTTPTestCase = { __name = "AioHTTPTestCase", __luatest_case = true, _test_order = {} }
AioHTTPTestCase.__index = AioHTTPTestCase
M.AioHTTPTestCase = AioHTTPTestCase

--- A subclass: `local Case = AioHTTPTestCase:extend("Case")`. Its test_*
--- methods are remembered in definition order.
function AioHTTPTestCase:extend(name)
  if type(name) ~= "string" then
    error("AioHTTPTestCase:extend: expected a class name, got " .. type(name), 2)
  end
  local class = { __name = name, _test_order = {}, __luatest_case = true }
  class.__index = class
  return setmetatable(class, {
    __index = self,
    __newindex = function(t, key, value)
      if type(key) == "string" and key:match("^test_") and type(value) == "function" and rawget(t, key) == nil then
        local order = rawget(t, "_test_order")
        order[#order + 1] = key
      end
      rawset(t, key, value)
    end,
    __tostring = function()
      return "<class " .. name .. ">"
    end,
  })
end

--- The test method names, inherited ones first, in definition order.
function AioHTTPTestCase:test_names()
  local chain, class = {}, self
  while class and class ~= AioHTTPTestCase do
    table.insert(chain, 1, class)
    class = getmetatable(class) and getmetatable(class).__index
  end
  local names, seen = {}, {}
  for _, c in ipairs(chain) do
    for _, n in ipairs(rawget(c, "_test_order") or {}) do
      if not seen[n] then
        seen[n] = true
        names[#names + 1] = n
      end
    end
  end
  return names
end

function AioHTTPTestCase:get_application()
  error(format("%s:get_application: override it to return the Application under test", self.__name), 2)
end

function AioHTTPTestCase:get_server(app)
  return M.TestServer(app)
end

function AioHTTPTestCase:get_client(server)
  return M.TestClient(server, { loop = self.loop })
end

function AioHTTPTestCase:setup() end
function AioHTTPTestCase:teardown() end

--- A fresh instance with its app, server and started client, then setup().
--- Runs inside a task.
function AioHTTPTestCase:_case_setup()
  local inst = setmetatable({ loop = the_loop }, self)
  inst.app = inst:get_application()
  inst.server = inst:get_server(inst.app)
  inst.client = inst:get_client(inst.server)
  inst.client:start_server()
  inst.server = inst.client.server
  inst:setup()
  return inst
end

--- teardown(), then the client (and its server) closed, even if teardown
--- failed.
function AioHTTPTestCase._case_teardown(inst)
  local ok, err = pcall(inst.teardown, inst)
  if inst.client then
    inst.client:close()
  end
  if not ok then
    error(err, 0)
  end
end

--- Runs the case's tests outside the runner; returns passed, failed. Each
--- failure is written to stderr.
function AioHTTPTestCase:run()
  local passed, failed = 0, 0
  for _, name in ipairs(self:test_names()) do
    local ok, err = pcall(core.run_until_complete, function()
      local inst = self:_case_setup()
      local ok1, err1 = xpcall(inst[name], debug.traceback, inst)
      self._case_teardown(inst)
      if not ok1 then
        error(err1, 0)
      end
    end)
    if ok then
      passed = passed + 1
    else
      failed = failed + 1
      io.stderr:write(format("%s.%s failed: %s\n", self.__name, name, tostring(err)))
    end
  end
  return passed, failed
end

return M
