--- luatest.test_utils: TestServer, RawTestServer and TestClient, shaped like
--- aiohttp.test_utils, plus the loop helpers. Servers bind 127.0.0.1 on a
--- port the OS chooses unless one is given.
local core = require "luatest.core"
local cjson = require "cjson"
local web = require "luatest.web"
local multidict = require "luatest.multidict"

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

local function call_signals(list, app)
  for _, fn in ipairs(list) do
    fn(app)
  end
end

-- ---- servers --------------------------------------------------------------------------

local BaseTestServer = {}
BaseTestServer.__index = BaseTestServer

-- Options a test server hands to its connections (aiohttp's handler
-- keyword arguments, and the header deadline nginx has).
local CONNECTION_OPTIONS = {
  "header_timeout", "keepalive_timeout", "max_line_size", "max_field_size", "max_headers",
}

local function new_server(class, name, opts)
  opts = opts or {}
  if type(opts) ~= "table" then
    error(format("%s: options must be a table, got %s", name, type(opts)), 3)
  end
  local scheme = opts.scheme or "http"
  if scheme ~= "http" then
    error(format("%s: scheme '%s' is not supported (use \"http\")", name, tostring(scheme)), 3)
  end
  local connection = {}
  for _, name in ipairs(CONNECTION_OPTIONS) do
    connection[name] = opts[name]
  end
  return setmetatable({
    _connection = connection,
    scheme = scheme,
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

-- Signals of the application and of its sub-applications, in aiohttp's
-- order: startup and cleanup_ctx setup parent first, the rest reversed.
function TestServer:_started()
  local apps = self.app:_all_apps()
  for _, app in ipairs(apps) do
    call_signals(app.on_startup, app)
  end
  local cleanups = {}
  for _, app in ipairs(apps) do
    for _, ctx in ipairs(app.cleanup_ctx) do
      cleanups[#cleanups + 1] = ctx(app)
    end
  end
  self._cleanups = cleanups
end

function TestServer:_closed()
  local apps = self.app:_all_apps()
  for _, app in ipairs(apps) do
    call_signals(app.on_shutdown, app)
  end
  local cleanups = self._cleanups or {}
  for i = #cleanups, 1, -1 do
    if type(cleanups[i]) == "function" then
      cleanups[i]()
    end
  end
  for _, app in ipairs(apps) do
    call_signals(app.on_cleanup, app)
  end
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

-- ---- client responses -------------------------------------------------------------------

local ClientResponse = {}
ClientResponse.__name = "ClientResponse"
ClientResponse.__tostring = function(self)
  return format("<ClientResponse(%s) [%d %s]>", self.url, self.status, self.reason)
end

-- Fields built on first use: most tests read only the status and the body.
local response_props = {}

function response_props.headers(self)
  return CIMultiDict.from_flat(self._raw_headers)
end

function response_props.content_type(self)
  local ctype, charset = web._parse_content_type(self.headers["Content-Type"])
  rawset(self, "charset", charset or false)
  return ctype
end

function response_props.charset(self)
  local _ = self.content_type
  return rawget(self, "charset")
end

function response_props.cookies(self)
  local cookies = {}
  for _, sc in ipairs(self.headers:getall("Set-Cookie")) do
    local k, v = sc:match("^%s*([^=;]-)%s*=%s*([^;]*)")
    if k and k ~= "" then
      cookies[k] = v:match('^"(.*)"$') or v
    end
  end
  return cookies
end

function response_props.url(self)
  local c = self._conn
  return format("%s://%s:%d%s", c[1], c[2], c[3], c[4])
end

-- The pieces of a body that comes after the head, within the request's
-- total timeout.
local function body_pull(resp)
  local stream = resp._stream
  return function()
    while true do
      local timeout
      if resp._deadline then
        timeout = resp._deadline - core.time()
        if timeout <= 0 then
          error(format("content:read: timed out after %gs (%s)", resp._timeout, resp.url), 0)
        end
      end
      local chunk, err = stream:_read(nil, timeout)
      if chunk then
        return chunk
      end
      if err then
        if err:find("^ETIMEDOUT") then
          error(format("content:read: timed out after %gs (%s)", resp._timeout, resp.url), 0)
        end
        error(format("content:read: %s (%s)", err, resp.url), 0)
      end
    end
  end
end

--- resp.content: the body as it arrives (read(n), readline(), readany(),
--- readexactly(n), iter_chunked(n), iter_any(), iter_lines(), at_eof()).
function response_props.content(self)
  local body = rawget(self, "_body")
  if body then
    return web._stream_reader(body)
  end
  return web._stream_reader("", body_pull(self))
end

function response_props.history()
  return {}
end

ClientResponse.__index = function(self, key)
  local prop = response_props[key]
  if prop then
    local value = prop(self)
    rawset(self, key, value)
    if value == false then
      return nil
    end
    return value
  end
  return ClientResponse[key]
end

local function new_response(raw, method, conn, history, deadline, timeout)
  return setmetatable({
    status = raw.status,
    reason = raw.reason,
    version = raw.version,
    method = method,
    history = history,
    _conn = conn,
    _raw_headers = raw.headers,
    _body = raw.body or false,
    _stream = raw.stream,
    _deadline = deadline,
    _timeout = timeout,
  }, ClientResponse)
end

local function raw_header(raw, name)
  local flat = raw.headers
  for i = 1, #flat, 2 do
    if flat[i]:lower() == name then
      return flat[i + 1]
    end
  end
end

--- The body as a string (the rest of it, after reads from resp.content).
function ClientResponse:read()
  local body = rawget(self, "_body")
  if not body then
    body = self.content:read()
    rawset(self, "_body", body)
  end
  return body
end

function ClientResponse:text()
  return self:read()
end

--- The body parsed as JSON (lua-cjson).
function ClientResponse:json()
  local ok, value = pcall(cjson.decode, self:read())
  if not ok then
    error(format("resp:json: invalid JSON in the response to %s %s: %s", self.method, self.url, value), 2)
  end
  return value
end

--- Lets go of the response: a body not read to its end takes its
--- connection with it (it cannot be reused).
function ClientResponse:release()
  local stream = rawget(self, "_stream")
  if stream then
    stream:release()
  end
end

local ClientResponseError = {}
ClientResponseError.__index = ClientResponseError
ClientResponseError.__name = "ClientResponseError"
ClientResponseError.__tostring = function(self)
  return self.message
end
M.ClientResponseError = ClientResponseError

--- Raises an error object with `status` and `message` for a status >= 400.
function ClientResponse:raise_for_status()
  if self.status >= 400 then
    error(setmetatable({
      status = self.status,
      message = format("%d, message='%s', url='%s'", self.status, self.reason, self.url),
      request_info = { method = self.method, url = self.url },
    }, ClientResponseError), 2)
  end
end

-- ---- the cookie jar -------------------------------------------------------------------------

local CookieJar = {}
CookieJar.__index = CookieJar
CookieJar.__name = "CookieJar"
CookieJar.__len = function(self)
  local n = 0
  for _ in pairs(self._cookies) do
    n = n + 1
  end
  return n
end

--- A cookie jar. Unlike a browser's it accepts cookies from IP addresses
--- such as 127.0.0.1, as aiohttp's test client jar does.
function M.CookieJar()
  return setmetatable({ _cookies = {} }, CookieJar)
end

local function parse_set_cookie(header)
  local name, value, attrs = header:match("^%s*([^=;%s]+)%s*=%s*([^;]*)(.*)$")
  if not name then
    return nil
  end
  local cookie = { name = name, value = value:match('^"(.*)"$') or value, path = "/" }
  for attr in attrs:gmatch(";%s*([^;]+)") do
    local k, v = attr:match("^([^=]+)=?(.*)$")
    k = k:lower():gsub("%s+$", "")
    if k == "path" and v:sub(1, 1) == "/" then
      cookie.path = v
    elseif k == "max-age" then
      cookie.max_age = tonumber(v)
    elseif k == "expires" then
      cookie.expires = v
    elseif k == "domain" then
      cookie.domain = v
    end
  end
  return cookie
end

local function expired(cookie)
  if cookie.max_age then
    return cookie.max_age <= 0
  end
  if cookie.expires then
    local y = tonumber(cookie.expires:match("(%d%d%d%d)"))
    return y ~= nil and y < 1971
  end
  return false
end

--- Stores cookies: a map name -> value, or a list of Set-Cookie header
--- values.
function CookieJar:update_cookies(cookies)
  if type(cookies) ~= "table" then
    error("jar:update_cookies: expected a table, got " .. type(cookies), 2)
  end
  if cookies[1] ~= nil then
    for _, header in ipairs(cookies) do
      local cookie = parse_set_cookie(header)
      if cookie then
        if expired(cookie) then
          self._cookies[cookie.name] = nil
        else
          self._cookies[cookie.name] = cookie
        end
      end
    end
  else
    for name, value in pairs(cookies) do
      self._cookies[tostring(name)] = { name = tostring(name), value = tostring(value), path = "/" }
    end
  end
end

--- The cookies to send to url, as name -> value.
function CookieJar:filter_cookies(url)
  url = url or "/"
  local path = url:match("^%a[%w+.-]*://[^/]*(/?[^?#]*)") or url:match("^[^?#]*")
  if path == "" then
    path = "/"
  end
  local out = {}
  for name, cookie in pairs(self._cookies) do
    local p = cookie.path
    if path:sub(1, #p) == p and (#path == #p or p:sub(-1) == "/" or path:sub(#p + 1, #p + 1) == "/") then
      out[name] = cookie.value
    end
  end
  return out
end

function CookieJar:clear()
  self._cookies = {}
end

local function cookie_header(jar, url, extra)
  local values = jar:filter_cookies(url)
  if extra then
    for k, v in pairs(extra) do
      values[tostring(k)] = tostring(v)
    end
  end
  local names = {}
  for k in pairs(values) do
    names[#names + 1] = k
  end
  if #names == 0 then
    return nil
  end
  table.sort(names)
  for i, k in ipairs(names) do
    names[i] = k .. "=" .. values[k]
  end
  return table.concat(names, "; ")
end

-- ---- the client ---------------------------------------------------------------------------

local TestClient = {}
TestClient.__index = TestClient
TestClient.__name = "TestClient"

--- A client for a TestServer or RawTestServer.
function M.TestClient(server, opts)
  if not M.is_test_server(server) then
    error("TestClient: expected a TestServer or RawTestServer as argument 1, got " .. type(server), 2)
  end
  opts = opts or {}
  if type(opts) ~= "table" then
    error("TestClient: options must be a table, got " .. type(opts), 2)
  end
  return setmetatable({
    server = server,
    app = server.app,
    host = server.host,
    port = server.port,
    scheme = server.scheme,
    cookie_jar = opts.cookie_jar or M.CookieJar(),
    _raise = opts.raise_server_exceptions or false,
    _closed = false,
  }, TestClient)
end

--- Starts the server if needed, and the client.
function TestClient:start_server()
  if self._closed then
    error("TestClient:start_server: attempt to use a closed client", 2)
  end
  self.server:start_server()
  self.port = self.server.port
  if not self._client then
    self._client = core.client()
  end
end

function TestClient:make_url(path)
  return self.server:make_url(path)
end

local function encode_form(src)
  local parts = {}
  multidict.each_pair(src, function(k, v)
    parts[#parts + 1] = core.urlencode(tostring(k), true) .. "=" .. core.urlencode(tostring(v), true)
  end)
  return table.concat(parts, "&")
end
M._encode_form = encode_form

local function has_file_part(src)
  local found = false
  multidict.each_pair(src, function(_, v)
    found = found or type(v) == "table"
  end)
  return found
end

local boundary_counter = 0

-- multipart/form-data: a field whose value is a table is a file part
-- {content=, filename=, content_type=}.
local function encode_multipart(src)
  boundary_counter = boundary_counter + 1
  local boundary = format("luatest-%x-%x-%d", os.time(), math.random(0, 0x7fffffff), boundary_counter)
  local out = {}
  multidict.each_pair(src, function(name, value)
    local head = format('--%s\r\nContent-Disposition: form-data; name="%s"', boundary,
      tostring(name):gsub('"', "%%22"))
    if type(value) == "table" then
      local filename = tostring(value.filename or name):gsub('"', "%%22")
      out[#out + 1] = format('%s; filename="%s"\r\nContent-Type: %s\r\n\r\n', head, filename,
        value.content_type or "application/octet-stream")
      out[#out + 1] = tostring(value.content or "")
    else
      out[#out + 1] = head .. "\r\n\r\n"
      out[#out + 1] = tostring(value)
    end
    out[#out + 1] = "\r\n"
  end)
  out[#out + 1] = "--" .. boundary .. "--\r\n"
  return table.concat(out), "multipart/form-data; boundary=" .. boundary
end
M._encode_multipart = encode_multipart

local redirect_codes = { [301] = true, [302] = true, [303] = true, [307] = true, [308] = true }

local function split_url(url)
  local scheme, host, port, target = url:match("^(%a[%w+.-]*)://([^/:]+):?(%d*)(.*)$")
  return scheme, host, tonumber(port), target ~= "" and target or "/"
end

-- A target is a path, or an absolute URL when the server allows them
-- (skip_url_asserts); anything else is an error naming the call.
local function check_target(self, call, path)
  if type(path) ~= "string" then
    error(format("%s: path must be a string, got %s", call, type(path)), 3)
  end
  if path:byte(1) ~= 47 and (not path:find("^%a[%w+.-]*://") or not self.server.skip_url_asserts) then
    error(format("%s: expected a path starting with '/', got '%s'", call, path), 3)
  end
end

-- A body given as a function (called until it returns nil or ""), a
-- callable table or an open file (read in 64 KiB pieces) is sent in pieces,
-- chunked unless a Content-Length header was given: returns the function.
local function streamed_source(data)
  local t = type(data)
  if t == "function" then
    return data
  end
  if io.type(data) == "file" then
    return function()
      return data:read(65536)
    end
  end
  local mt = t == "table" and getmetatable(data)
  if mt and mt.__call then
    return function()
      return data()
    end
  end
end

-- Sends the pieces, waiting while the server does not read; a response
-- that comes before the end stops the upload (upload:finish returns it).
local function send_streamed(client, method, host, port, target, headers, source, deadline, timeout)
  local up = client:upload(method, host, port, target, headers)
  while true do
    local piece = source()
    if piece == nil or piece == "" then
      break
    end
    local left = deadline and deadline - core.time()
    if left and left <= 0 then
      return nil, "ETIMEDOUT: timed out"
    end
    local ok, err = up:write(tostring(piece), left)
    if ok == nil then
      return nil, err or "ETIMEDOUT: timed out"
    elseif not ok then
      break
    end
  end
  local left = deadline and deadline - core.time()
  if left and left <= 0 then
    return nil, "ETIMEDOUT: timed out"
  end
  return up:finish(left)
end

--- Sends a request and returns its ClientResponse. opts: params, headers,
--- data (string; a table = form; a function, callable or open file =
--- sent in pieces, chunked), json, allow_redirects (default true),
--- max_redirects (default 10), timeout (total seconds).
local empty = setmetatable({}, { __newindex = function()
  error("internal: the shared empty table is read-only", 2)
end })
local verb_calls = {}

function TestClient:request(method, path, opts)
  if type(method) ~= "string" then
    error("client:request: method must be a string, got " .. type(method), 2)
  end
  local call = verb_calls[method]
  if not call then
    call = "client:" .. method:lower()
    verb_calls[method] = call
  end
  if self._closed then
    error(call .. ": attempt to use a closed client", 2)
  end
  if not self._client then
    self:start_server()
  end
  opts = opts or empty
  check_target(self, call, path)
  local target = path
  if opts.params then
    local qs = encode_form(opts.params)
    if qs ~= "" then
      target = target .. (target:find("?", 1, true) and "&" or "?") .. qs
    end
  end
  -- Most requests carry no headers, no cookies and no body: build tables
  -- only when something goes in them.
  local headers, has_ctype, has_cookie
  if opts.headers then
    headers = {}
    multidict.each_pair(opts.headers, function(k, v)
      k = tostring(k)
      headers[#headers + 1] = k
      headers[#headers + 1] = tostring(v)
      local lk = k:lower()
      has_ctype = has_ctype or lk == "content-type"
      has_cookie = has_cookie or lk == "cookie"
    end)
  end
  local body, ctype
  if opts.json ~= nil then
    if opts.data ~= nil then
      error(call .. ": data and json are mutually exclusive", 2)
    end
    body, ctype = cjson.encode(opts.json), "application/json"
  elseif streamed_source(opts.data) then
    body, ctype = streamed_source(opts.data), "application/octet-stream"
  elseif type(opts.data) == "table" and has_file_part(opts.data) then
    body, ctype = encode_multipart(opts.data)
  elseif type(opts.data) == "table" then
    body, ctype = encode_form(opts.data), "application/x-www-form-urlencoded"
  elseif opts.data ~= nil then
    body, ctype = tostring(opts.data), "application/octet-stream"
  end
  if ctype and not has_ctype then
    headers = headers or {}
    headers[#headers + 1] = "Content-Type"
    headers[#headers + 1] = ctype
  end
  local deadline = opts.timeout and (core.time() + opts.timeout)
  local host, port = self.host, self.port
  local history
  local jar = self.cookie_jar
  while true do
    local timeout
    if deadline then
      timeout = deadline - core.time()
      if timeout <= 0 then
        error(format("%s: timed out after %gs (%s)", call, opts.timeout, target), 2)
      end
    end
    if target:byte(1) ~= 47 then
      local _, h, p, t = split_url(target)
      host, port, target = h, p or 80, t
    end
    local conn = { self.scheme, host, port, target }
    local send_headers = headers
    if not has_cookie and (next(jar._cookies) or opts.cookies) then
      local cookie = cookie_header(jar, target, opts.cookies)
      if cookie then
        send_headers = move(headers or empty, 1, headers and #headers or 0, 1, {})
        send_headers[#send_headers + 1] = "Cookie"
        send_headers[#send_headers + 1] = cookie
      end
    end
    local server_errors = self.server._handler_errors
    local errors_before = #server_errors
    local raw, err
    if type(body) == "function" then
      raw, err = send_streamed(self._client, method, host, port, target, send_headers, body, deadline, opts.timeout)
    else
      raw, err = self._client:request(method, host, port, target, send_headers, body, timeout, true)
    end
    if not raw then
      local url = format("%s://%s:%d%s", self.scheme, host, port, target)
      if err:find("^ETIMEDOUT") then
        error(format("%s: timed out after %gs (%s)", call, opts.timeout, url), 2)
      end
      error(call .. ": " .. err, 2)
    end
    if self._raise and #server_errors > errors_before then
      error(format("%s: the handler raised: %s", call, server_errors[#server_errors]), 2)
    end
    local resp = new_response(raw, method, conn, history, deadline, opts.timeout)
    if raw_header(raw, "set-cookie") then
      jar:update_cookies(resp.headers:getall("Set-Cookie"))
    end
    local location = redirect_codes[resp.status] and opts.allow_redirects ~= false and raw_header(raw, "location")
    if not location then
      return resp
    end
    resp:release()
    history = history or {}
    history[#history + 1] = resp
    resp.history = history
    if #history > (opts.max_redirects or 10) then
      error(format("%s: too many redirects (%d) (%s)", call, opts.max_redirects or 10, resp.url), 2)
    end
    if type(body) == "function" and not (resp.status == 303 or resp.status == 301 or resp.status == 302) then
      error(format("%s: a %d redirect asks for the body again, which was streamed (%s)", call, resp.status,
        resp.url), 2)
    end
    if resp.status == 303 or ((resp.status == 301 or resp.status == 302) and method == "POST") then
      if method ~= "HEAD" then
        method = "GET"
      end
      body = nil
      for i = (headers and #headers or 0) - 1, 1, -2 do
        if headers[i]:lower() == "content-type" then
          table.remove(headers, i + 1)
          table.remove(headers, i)
        end
      end
    end
    if location:sub(1, 1) == "/" or location:find("^%a[%w+.-]*://") then
      target = location
    else
      target = (target:match("^(.*/)") or "/") .. location
    end
  end
end

--- Opens a WebSocket to path on the server. opts: protocols (a list),
--- headers, receive_timeout, max_msg_size. The client's cookies go with the
--- upgrade request. With skip_url_asserts, path may be an absolute
--- http:// or ws:// URL: host, port and path are then taken from it.
function TestClient:ws_connect(path, opts)
  if self._closed then
    error("client:ws_connect: attempt to use a closed client", 2)
  end
  check_target(self, "client:ws_connect", path)
  if not self._client then
    self:start_server()
  end
  opts = opts or {}
  local host, port, target = self.host, self.port, path
  if path:byte(1) ~= 47 then
    local scheme, h, p, t = split_url(path)
    scheme = scheme and scheme:lower()
    if scheme ~= "http" and scheme ~= "ws" then
      error(format("client:ws_connect: only http:// and ws:// URLs are supported, got '%s'", path), 2)
    end
    host, port, target = h, p or 80, t
  end
  local lines = {}
  if opts.headers then
    multidict.each_pair(opts.headers, function(k, v)
      lines[#lines + 1] = tostring(k) .. ": " .. tostring(v) .. "\r\n"
    end)
  end
  local cookie = next(self.cookie_jar._cookies) and cookie_header(self.cookie_jar, target)
  if cookie then
    lines[#lines + 1] = "Cookie: " .. cookie .. "\r\n"
  end
  local ws, err = core.ws_connect(host, port, target, {
    protocols = opts.protocols and table.concat(opts.protocols, ", ") or nil,
    headers = table.concat(lines),
    max_msg_size = opts.max_msg_size,
    heartbeat = opts.heartbeat,
    autoping = opts.autoping,
  })
  if not ws then
    error(format("client:ws_connect: %s (%s:%d%s)", err, host, port, target), 2)
  end
  local wrapped = require("luatest.websocket").wrap(ws, opts)
  self._websockets = self._websockets or {}
  self._websockets[#self._websockets + 1] = wrapped
  return wrapped
end

for _, m in ipairs { "get", "post", "put", "patch", "delete", "head", "options" } do
  local method = m:upper()
  TestClient[m] = function(self, path, opts)
    return self:request(method, path, opts)
  end
end

--- Closes the client and its server.
function TestClient:close()
  if self._closed then
    return
  end
  self._closed = true
  for _, ws in ipairs(self._websockets or {}) do
    if not ws.closed then
      ws:close()
    end
    local core_ws = rawget(ws, "_ws")
    if core_ws then
      core_ws:_release()
    end
  end
  if self._client then
    self._client:close()
    self._client = nil
  end
  self.server:close()
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
function M.make_mocked_request(method, path, opts)
  if type(method) ~= "string" then
    error("make_mocked_request: method must be a string, got " .. type(method), 2)
  end
  if type(path) ~= "string" then
    error("make_mocked_request: path must be a string, got " .. type(path), 2)
  end
  opts = opts or {}
  local flat = {}
  if opts.headers then
    multidict.each_pair(opts.headers, function(k, v)
      flat[#flat + 1] = tostring(k)
      flat[#flat + 1] = tostring(v)
    end)
  end
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
  local app = opts.app
  if app == nil then
    app = web.Application { client_max_size = opts.client_max_size }
  end
  local version = opts.version or "1.1"
  if type(version) == "table" then
    version = version[1] .. "." .. version[2]
  end
  local request = core.mock_request(method:upper(), path, flat, opts.payload, version, opts.closing, app)
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
