--- luatest.client: aiohttp's client side. ClientSession talks to any HTTP
--- server (a process the test started, nginx, the service under test);
--- the TestClient of luatest.test_utils is built on it. Also here:
--- BasicAuth, FormData, CookieJar and the error classes (errors).
local core = require "luatest.core"
local json = require "luatest.json"
local multidict = require "luatest.multidict"
local compat = require "luatest.compat"
local cookiejar = require "luatest.cookiejar"
local formdata = require "luatest.formdata"
local reqrep = require "luatest.client_reqrep"
local errors = require "luatest.client_exceptions"
local exchanges = require "luatest.exchanges"

local format, type, error, setmetatable, getmetatable, rawget, tostring, tonumber, pairs, ipairs, next =
  string.format, type, error, setmetatable, getmetatable, rawget, tostring, tonumber, pairs, ipairs, next
local concat, move, pcall = table.concat, compat.move or table.move, compat.pcall or pcall
local record_exchange, record_ws = exchanges.record, exchanges.record_ws

local M = {
  errors = errors,
  ClientResponse = reqrep.ClientResponse,
  FormData = formdata.FormData,
}

-- ---- options ------------------------------------------------------------------------------

local helpers = require "luatest.helpers"
local check_options, set = helpers.check_options, helpers.names
M._check_options = check_options

local request_options = set { "params", "data", "json", "cookies", "headers", "skip_auto_headers", "auth",
  "allow_redirects", "max_redirects", "raise_for_status", "timeout", "ssl", "auto_decompress", "chunked",
  "compress", "expect100", "read_until_eof" }
M._request_options = request_options

local session_options = set { "base_url", "headers", "cookies", "cookie_jar", "timeout", "raise_for_status",
  "auth", "auto_decompress", "ssl", "skip_auto_headers", "json_serialize" }

local ws_options = set { "protocols", "headers", "receive_timeout", "max_msg_size", "heartbeat", "autoping",
  "autoclose", "timeout", "auth", "origin", "params", "ssl", "compress", "method" }
M._ws_options = ws_options

-- ---- BasicAuth ----------------------------------------------------------------------------

local b64chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

local function b64encode(s)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    local c1, c2 = math.floor(n / 262144) % 64, math.floor(n / 4096) % 64
    local c3, c4 = math.floor(n / 64) % 64, n % 64
    out[#out + 1] = b64chars:sub(c1 + 1, c1 + 1) .. b64chars:sub(c2 + 1, c2 + 1)
      .. (b and b64chars:sub(c3 + 1, c3 + 1) or "=") .. (c and b64chars:sub(c4 + 1, c4 + 1) or "=")
  end
  return concat(out)
end
M._b64encode = b64encode

local BasicAuth = {}
BasicAuth.__index = BasicAuth
BasicAuth.__name = "BasicAuth"
BasicAuth.__tostring = function(self)
  return format("BasicAuth(login='%s', password='***')", self.login)
end

--- BasicAuth(login, password = ""): the Authorization header's value is
--- auth:encode().
function M.BasicAuth(login, password, encoding)
  if type(login) ~= "string" then
    error("BasicAuth: login must be a string, got " .. type(login), 2)
  end
  if login:find(":", 1, true) then
    error('BasicAuth: a ":" is not allowed in login (RFC 1945#section-11.1)', 2)
  end
  password = password == nil and "" or password
  if type(password) ~= "string" then
    error("BasicAuth: password must be a string, got " .. type(password), 2)
  end
  return setmetatable({ login = login, password = password, encoding = encoding or "latin1" }, BasicAuth)
end

function BasicAuth:encode()
  return "Basic " .. b64encode(self.login .. ":" .. self.password)
end

local function is_auth(x)
  return getmetatable(x) == BasicAuth
end

-- ---- URLs ---------------------------------------------------------------------------------

--- split_url(url) -> scheme, host, port, target ("/path?query"); nil for
--- a URL without a scheme and host.
local function split_url(url)
  local scheme, authority, rest = url:match("^(%a[%w+.-]*)://([^/?#]*)(.*)$")
  if not scheme or authority == "" then
    return nil
  end
  scheme = scheme:lower()
  authority = authority:gsub("^.*@", "")
  local host, port
  if authority:sub(1, 1) == "[" then
    host, port = authority:match("^(%b[]):?(%d*)$")
  else
    host, port = authority:match("^([^:]+):?(%d*)$")
  end
  if not host then
    return nil
  end
  port = tonumber(port) or ((scheme == "https" or scheme == "wss") and 443) or 80
  rest = rest:gsub("#.*$", "")
  if rest == "" or rest:sub(1, 1) == "?" then
    rest = "/" .. rest
  end
  return scheme, host:lower(), port, rest
end
M._split_url = split_url

local function origin(scheme, host, port)
  return format("%s://%s:%d", scheme, host, port)
end

-- Joins a Location (absolute, absolute path, or relative) to the URL it
-- answered.
local function join(base_target, location)
  if location:sub(1, 1) == "/" then
    return location
  end
  local dir = base_target:match("^([^?]*/)") or "/"
  return dir .. location
end

-- target with params (a form's fields) added to its query.
local function with_params(target, params)
  if params then
    local qs = formdata.encode_form(params)
    if qs ~= "" then
      return target .. (target:find("?", 1, true) and "&" or "?") .. qs
    end
  end
  return target
end

-- ---- errors -------------------------------------------------------------------------------

-- The class of a TLS failure ("ETLS: ..."): a refused certificate, or
-- another failure of the session.
local function tls_error_class(err)
  return err:find("certificate verify failed", 1, true) and errors.ClientConnectorCertificateError
    or errors.ClientConnectorSSLError
end

-- The error class for a core client message ("ECONNREFUSED: ...").
local function connection_error(call, err, url, timeout)
  if err:find("^ETIMEDOUT") then
    return errors.ServerTimeoutError { text = format("%s: timed out after %gs (%s)", call, timeout or 0, url),
      url = url }
  end
  local text = format("%s: %s", call, err)
  if err:find("^ECONNREFUSED") or err:find("^EADDRNOTAVAIL") or err:find("^ENETUNREACH")
    or err:find("^EHOSTUNREACH") or err:find("^EAI_") then
    return errors.ClientConnectorError { text = text, url = url, os_error = err }
  elseif err:find("^ECONNRESET") or err:find("^EOF") or err:find("^EPIPE") or err:find("^ECLOSED") then
    return errors.ServerDisconnectedError { text = text, url = url, message = "Server disconnected" }
  elseif err:find("^ETLS") then
    return tls_error_class(err) { text = text, url = url, os_error = err }
  elseif err:find("^EENCODING") or err:find("^ETOOLARGE") then
    return errors.ClientPayloadError { text = text, url = url, message = err }
  elseif err:find("^EPARSE") then
    return errors.ClientResponseError { text = text, url = url, status = 400, message = err }
  end
  return errors.ClientOSError { text = text, url = url, os_error = err }
end
M._connection_error = connection_error

-- ---- TLS --------------------------------------------------------------------------------

-- What the core client trusts for an https request, from the ssl option
-- (aiohttp's): nil or true, the system's CAs; false, anything (no
-- verification); {ca_pem =} or {cafile =}, those certificates.
local function tls_trust(call, ssl, level)
  if ssl == nil or ssl == true then
    return true
  elseif ssl == false then
    return false
  elseif type(ssl) ~= "table" then
    error(format("%s: ssl must be false or a table {cafile =, ca_pem =}, got %s", call, type(ssl)), level + 1)
  end
  for k in pairs(ssl) do
    if k ~= "cafile" and k ~= "ca_pem" then
      error(format("%s: unknown ssl option '%s' (cafile, ca_pem)", call, tostring(k)), level + 1)
    end
  end
  local pem = ssl.ca_pem
  if ssl.cafile ~= nil then
    local f, err = io.open(tostring(ssl.cafile), "rb")
    if not f then
      error(format("%s: ssl.cafile: %s", call, err), level + 1)
    end
    pem = (pem and pem .. "\n" or "") .. f:read("*a")
    f:close()
  end
  if type(pem) ~= "string" or pem == "" then
    error(call .. ": ssl needs cafile or ca_pem", level + 1)
  end
  return pem
end

-- ---- bodies -------------------------------------------------------------------------------

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
local function send_streamed(client, method, host, port, target, headers, source, deadline, decompress, tls)
  local up = client:upload(method, host, port, target, headers, decompress, tls)
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

-- body, content type of the data/json options.
local function encode_body(call, opts, level)
  if opts.json ~= nil then
    if opts.data ~= nil then
      error(call .. ": data and json are mutually exclusive", level + 1)
    end
    local ok, body = pcall(json.encode, opts.json)
    if not ok then
      error(call .. ": " .. tostring(body), level + 1)
    end
    return body, "application/json"
  end
  local data = opts.data
  if data == nil then
    return nil
  end
  if formdata.is_form_data(data) then
    return data:encode()
  end
  local source = streamed_source(data)
  if source then
    return source, "application/octet-stream"
  end
  if type(data) == "table" then
    if formdata.has_file_part(data) then
      return formdata.encode_multipart(data)
    end
    return formdata.encode_form(data), "application/x-www-form-urlencoded"
  end
  return tostring(data), "application/octet-stream"
end

-- ---- ClientSession ------------------------------------------------------------------------

local ClientSession = {}
ClientSession.__index = ClientSession
ClientSession.__name = "ClientSession"
M.ClientSession_class = ClientSession

local function total_timeout(call, t, level)
  if t == nil then
    return nil
  end
  if type(t) == "table" then
    t = t.total
  end
  if t ~= nil and (type(t) ~= "number" or t < 0) then
    error(format("%s: timeout must be a number of seconds >= 0, got %s", call, tostring(t)), level + 1)
  end
  return t
end

--- ClientSession{base_url =, headers =, cookies =, cookie_jar =, timeout =,
--- raise_for_status =, auth =, auto_decompress = true}
function M.ClientSession(opts)
  opts = opts or {}
  check_options("ClientSession", opts, session_options, 2)
  local base
  if opts.base_url ~= nil then
    local scheme, host, port, target = split_url(tostring(opts.base_url))
    if not scheme then
      error(errors.InvalidURL { text = format("ClientSession: base_url must be an absolute URL, got '%s'",
        tostring(opts.base_url)), url = tostring(opts.base_url) }, 2)
    end
    base = { scheme, host, port, target }
  end
  if opts.auth ~= nil and not is_auth(opts.auth) then
    error("ClientSession: auth must be a BasicAuth, got " .. type(opts.auth), 2)
  end
  local headers = multidict.flat_pairs(opts.headers)
  local jar = opts.cookie_jar or cookiejar.CookieJar()
  local self = setmetatable({
    _base = base,
    _headers = headers,
    _timeout = total_timeout("ClientSession", opts.timeout, 2),
    _raise_for_status = opts.raise_for_status and true or false,
    _auth = opts.auth,
    _decompress = opts.auto_decompress ~= false,
    _skip = opts.skip_auto_headers,
    cookie_jar = jar,
    _client = core.client(),
    _closed = false,
  }, ClientSession)
  if opts.ssl ~= nil then
    self._ssl = tls_trust("ClientSession", opts.ssl, 2)
  end
  if opts.cookies then
    jar:update_cookies(opts.cookies, base and origin(base[1], base[2], base[3]) .. "/" or nil)
  end
  return self
end

function M.is_session(x)
  return getmetatable(x) == ClientSession
end

ClientSession.__close = function(self)
  self:close()
end

local function has_header(list, lname)
  for i = 1, #list, 2 do
    if list[i]:lower() == lname then
      return true
    end
  end
  return false
end

local function remove_header(list, lname)
  for i = #list - 1, 1, -2 do
    if list[i]:lower() == lname then
      table.remove(list, i + 1)
      table.remove(list, i)
    end
  end
end

-- Whether an automatic header is to be left out (skip_auto_headers of the
-- session or of the request).
local function skips(a, b, lname)
  for _, list in ipairs { a or {}, b or {} } do
    for _, name in ipairs(list) do
      if tostring(name):lower() == lname then
        return true
      end
    end
  end
  return false
end

-- The URL as text, made only when something needs it.
local function url_of(scheme, host, port, target)
  return format("%s://%s:%d%s", scheme, host, port, target)
end

local no_options = setmetatable({}, { __newindex = function()
  error("internal: the shared options table is read-only", 2)
end })

-- Adds Accept-Encoding unless given or skipped: sent whether or not the
-- body is decoded, as aiohttp does.
local function add_accept_encoding(headers, skip_a, skip_b)
  if not has_header(headers, "accept-encoding") and not skips(skip_a, skip_b, "accept-encoding") then
    headers[#headers + 1] = "Accept-Encoding"
    headers[#headers + 1] = "gzip, deflate"
  end
end

-- The headers of a request with no options, built once per session, and
-- whether they have a Cookie header (so that no request looks again).
function ClientSession:_plain_headers()
  local h = self._plain
  if not h then
    h = move(self._headers, 1, #self._headers, 1, {})
    add_accept_encoding(h, self._skip, nil)
    self._plain = h
    self._plain_cookie = has_header(h, "cookie")
  end
  return h, self._plain_cookie
end

local verb_calls = {}

--- _call_name(method, level) -> "client:get" for "GET", the name errors
--- give a request (cached); a method that is not a string is an error.
function M._call_name(method, level)
  if type(method) ~= "string" then
    error("client:request: method must be a string, got " .. type(method), level + 1)
  end
  local call = verb_calls[method]
  if not call then
    call = "client:" .. method:lower()
    verb_calls[method] = call
  end
  return call
end

local redirect_codes = { [301] = true, [302] = true, [303] = true, [307] = true, [308] = true }

-- The request's own headers, each replacing the session's of that name.
-- (A function apart, so that the request function makes no closure: under
-- LuaJIT a return that has to close upvalues ends its trace.)
local function add_user_headers(headers, user)
  multidict.each_pair(user, function(k, v)
    k = tostring(k)
    remove_header(headers, k:lower())
    headers[#headers + 1] = k
    headers[#headers + 1] = tostring(v)
  end)
end

-- Resolves url against the base: scheme, host, port, target.
function ClientSession:_resolve(call, url, level)
  if type(url) ~= "string" then
    error(format("%s: url must be a string, got %s", call, type(url)), level + 1)
  end
  local base = self._base
  if base and url:byte(1) == 47 then
    -- (a path: what split_url and the scheme check below would find too)
    return base[1], base[2], base[3], url
  end
  local scheme, host, port, target = split_url(url)
  if scheme then
    return scheme, host, port, target
  end
  if url:find("^%a[%w+.-]*:") then
    error(errors.InvalidURL { text = format("%s: invalid URL '%s'", call, url), url = url }, level + 1)
  end
  if not base then
    error(errors.InvalidURL { text = format("%s: '%s' is not an absolute URL and the session has no base_url",
      call, url), url = url }, level + 1)
  end
  if url:sub(1, 1) ~= "/" then
    url = join(base[4], url)
  end
  return base[1], base[2], base[3], url
end

--- session:request(method, url, opts) -> ClientResponse, once its head
--- arrived. opts: params, headers, data (string; table = form; FormData;
--- function, callable or open file = sent in pieces, chunked), json,
--- cookies, auth, allow_redirects (default true, HEAD false),
--- max_redirects (10), raise_for_status, timeout (total seconds, redirects
--- and body included), auto_decompress.
function ClientSession:request(method, url, opts)
  return self:_request(M._call_name(method, 3), method, url, opts, 2)
end

-- What a request or WebSocket trusts: its own ssl option, else the
-- session's, else the system's CAs (true).
function ClientSession:_trust(call, ssl, level)
  if ssl ~= nil then
    return tls_trust(call, ssl, level + 1)
  end
  if self._ssl == nil then
    return true
  end
  return self._ssl
end

-- The request with its call name for messages; level is the caller's.
function ClientSession:_request(call, method, url, opts, level)
  level = level + 1
  if self._closed then
    error(call .. ": attempt to use a closed client", level)
  end
  opts = opts or no_options
  if opts ~= no_options then
    check_options(call, opts, request_options, level)
  end
  local trust = self._ssl -- (self:_trust, without the call for the usual case)
  if opts.ssl ~= nil then
    trust = tls_trust(call, opts.ssl, level)
  elseif trust == nil then
    trust = true
  end
  local scheme, host, port, target = self:_resolve(call, url, level)
  if scheme ~= "http" and scheme ~= "https" then
    error(errors.InvalidURL { text = format("%s: only http:// and https:// URLs are supported, got '%s'", call,
      url), url = url }, level)
  end
  if opts.params then
    target = with_params(target, opts.params)
  end
  -- A request with no options sends the session's own list as it is
  -- (built once); anything else gets a copy of its own.
  local plain = opts == no_options and not self._auth
  local headers, user_cookie
  if plain then
    headers, user_cookie = self._plain, self._plain_cookie
    if not headers then
      headers, user_cookie = self:_plain_headers()
    end
  else
    headers = move(self._headers, 1, #self._headers, 1, {})
  end
  if opts.headers then
    add_user_headers(headers, opts.headers)
  end
  local auth = opts.auth or self._auth
  if auth ~= nil then
    if not is_auth(auth) then
      error(call .. ": auth must be a BasicAuth, got " .. type(auth), level)
    end
    if has_header(headers, "authorization") then
      error(call .. ": cannot combine an Authorization header with auth", level)
    end
    headers[#headers + 1] = "Authorization"
    headers[#headers + 1] = auth:encode()
  end
  local body, ctype
  if opts ~= no_options then
    body, ctype = encode_body(call, opts, level)
  end
  if ctype and not has_header(headers, "content-type") then
    headers[#headers + 1] = "Content-Type"
    headers[#headers + 1] = ctype
  end
  local decompress = opts.auto_decompress
  if decompress == nil then
    decompress = self._decompress
  end
  if not plain then
    add_accept_encoding(headers, self._skip, opts.skip_auto_headers)
    user_cookie = has_header(headers, "cookie")
  end
  local timeout = opts.timeout
  if timeout ~= nil then
    timeout = total_timeout(call, timeout, level)
  end
  if timeout == nil then
    timeout = self._timeout
  end
  local deadline = timeout and timeout > 0 and (core.time() + timeout) or nil
  local allow_redirects = opts.allow_redirects
  if allow_redirects == nil then
    allow_redirects = method ~= "HEAD"
  end
  local max_redirects = opts.max_redirects or 10
  local history
  local jar = self.cookie_jar
  local request_cookies = opts.cookies
  local first_origin
  while true do
    if deadline and deadline - core.time() <= 0 then
      local cerr = connection_error(call, "ETIMEDOUT: timed out", url_of(scheme, host, port, target), timeout)
      record_exchange(method, scheme, host, port, target, headers, body).error = cerr
      error(cerr, level)
    end
    local send_headers = headers
    if not user_cookie and (next(jar._cookies) or request_cookies) then
      local cookie = jar:cookie_header(url_of(scheme, host, port, target), request_cookies)
      if cookie then
        send_headers = move(headers, 1, #headers, 1, {})
        send_headers[#send_headers + 1] = "Cookie"
        send_headers[#send_headers + 1] = cookie
      end
    end
    -- (For the report of a failing test: references only, see luatest.exchanges.)
    local exchange = record_exchange(method, scheme, host, port, target, send_headers, body)
    local server_errors = self._server_errors
    local errors_before = server_errors and #server_errors
    local raw, err
    local left = deadline and (deadline - core.time()) or nil
    local tls -- (nil: plain; false is "no verification", so no `and/or` here)
    if scheme == "https" then
      tls = trust
    end
    if type(body) == "function" then
      raw, err = send_streamed(self._client, method, host, port, target, send_headers, body, deadline, decompress,
        tls)
    else
      raw, err = self._client:request(method, host, port, target, send_headers, body, left, true, decompress, tls)
    end
    if not raw then
      local cerr = connection_error(call, err, url_of(scheme, host, port, target), timeout)
      exchange.error = cerr
      error(cerr, level)
    end
    local resp = reqrep.new_response(raw, method, scheme, host, port, target, history, deadline, timeout,
      send_headers)
    exchange.resp = resp
    if self._raise_server and #server_errors > errors_before then
      error(format("%s: the handler raised: %s", call, server_errors[#server_errors]), level)
    end
    local flat = rawget(resp, "_raw_headers")
    for i = 1, #flat, 2 do
      local name = flat[i]
      if #name == 10 and name:lower() == "set-cookie" then
        jar:update_cookies(resp.headers:getall("Set-Cookie"), url_of(scheme, host, port, target))
        break
      end
    end
    local location = redirect_codes[resp.status] and allow_redirects and resp.headers["Location"]
    if not location then
      local rfs = opts.raise_for_status
      if rfs == nil then
        rfs = self._raise_for_status
      end
      if rfs and resp.status >= 400 then
        resp:release()
        error(errors.ClientResponseError { status = resp.status, message = resp.reason, headers = resp.headers,
          request_info = resp.request_info, history = history or {}, url = resp.url }, level)
      end
      return resp
    end
    resp:release()
    history = history or {}
    history[#history + 1] = resp
    resp.history = history
    if max_redirects and #history >= max_redirects then
      error(errors.TooManyRedirects { text = format("%s: too many redirects (%d) (%s)", call, max_redirects,
        resp.url), status = resp.status, message = resp.reason, history = history,
        request_info = history[1].request_info, url = resp.url }, level)
    end
    if type(body) == "function" and not (resp.status == 303 or resp.status == 301 or resp.status == 302) then
      error(format("%s: a %d redirect asks for the body again, which was streamed (%s)", call, resp.status,
        resp.url), level)
    end
    first_origin = first_origin or origin(scheme, host, port)
    -- (changed below: not the shared list, nor the one recorded for this hop)
    headers = move(headers, 1, #headers, 1, {})
    if (resp.status == 303 and method ~= "HEAD") or ((resp.status == 301 or resp.status == 302) and method == "POST") then
      method = "GET"
      body = nil
      remove_header(headers, "content-type")
      remove_header(headers, "content-length")
    end
    local s2, h2, p2, t2 = split_url(location)
    if s2 then
      if s2 ~= "http" and s2 ~= "https" then
        error(errors.InvalidURL { text = format("%s: can redirect only to http or https, not '%s'", call,
          location), url = location }, level)
      end
      scheme, host, port, target = s2, h2, p2, t2
    else
      target = join(target, location)
    end
    if origin(scheme, host, port) ~= first_origin then
      -- credentials do not follow to another origin
      remove_header(headers, "authorization")
      if not user_cookie then
        request_cookies = nil
      else
        remove_header(headers, "cookie")
        user_cookie = false
      end
      first_origin = origin(scheme, host, port)
    end
  end
end

for _, m in ipairs { "get", "post", "put", "patch", "delete", "head", "options" } do
  local method = m:upper()
  local call = "client:" .. m
  ClientSession[m] = function(self, url, opts)
    return self:_request(call, method, url, opts, 2)
  end
end

-- ws_connect's compress: off by default, as aiohttp's client; true is 15.
local function ws_compress(call, compress, level)
  if compress == nil or compress == false or compress == 0 then
    return nil
  elseif compress == true then
    return 15
  elseif type(compress) == "number" and compress >= 9 and compress <= 15 and compress % 1 == 0 then
    return compress
  end
  error(format("%s: compress must be a boolean or window bits from 9 to 15, got %s", call, tostring(compress)),
    level + 1)
end

--- session:ws_connect(url, opts): a WebSocket to a ws://, wss://, http://
--- or https:// URL (or a path under base_url). opts: protocols, headers,
--- receive_timeout, max_msg_size, heartbeat, autoping, auth, ssl (as for
--- requests), compress (true or window bits: offer permessage-deflate).
--- The session's cookies go with the upgrade request.
function ClientSession:ws_connect(url, opts)
  local call = "client:ws_connect"
  if self._closed then
    error(call .. ": attempt to use a closed client", 2)
  end
  opts = opts or {}
  check_options(call, opts, ws_options, 2)
  local compress = ws_compress(call, opts.compress, 2)
  local trust = self:_trust(call, opts.ssl, 2)
  local scheme, host, port, target = self:_resolve(call, url, 2)
  local secure = scheme == "https" or scheme == "wss"
  if not secure and scheme ~= "http" and scheme ~= "ws" then
    error(errors.InvalidURL { text = format("%s: only ws://, wss://, http:// and https:// URLs are supported, got '%s'",
      call, url), url = url }, 2)
  end
  target = with_params(target, opts.params)
  local lines = {}
  local function add(k, v)
    lines[#lines + 1] = tostring(k) .. ": " .. tostring(v) .. "\r\n"
  end
  for i = 1, #self._headers, 2 do
    add(self._headers[i], self._headers[i + 1])
  end
  if opts.headers then
    multidict.each_pair(opts.headers, add)
  end
  local auth = opts.auth or self._auth
  if auth then
    add("Authorization", auth:encode())
  end
  local cookie = self.cookie_jar:cookie_header(format("%s://%s:%d%s", secure and "https" or "http", host, port,
    target))
  if cookie then
    add("Cookie", cookie)
  end
  local tls -- (false is a trust: no verification)
  if secure then
    tls = trust
  end
  local exchange = record_ws(secure and "wss" or "ws", host, port, target, lines)
  local ws, err = core.ws_connect(host, port, target, {
    protocols = opts.protocols and concat(opts.protocols, ", ") or nil,
    headers = concat(lines),
    max_msg_size = opts.max_msg_size,
    heartbeat = opts.heartbeat,
    autoping = opts.autoping,
    compress = compress,
    tls = tls,
  })
  if not ws then
    local text = format("%s: %s (%s:%d%s)", call, err, host, port, target)
    exchange.error = text
    if err:find("^ECONNREFUSED") or err:find("^ECONNECT") or err:find("refused") then
      error(errors.ClientConnectorError { text = text, os_error = err }, 2)
    elseif err:find("^ETLS") then
      error(tls_error_class(err) { text = text, os_error = err }, 2)
    end
    local status = tonumber(err:match("(%d%d%d)"))
    exchange.status = status
    error(errors.WSServerHandshakeError { text = text, status = status or 0, message = err }, 2)
  end
  exchange.ws = true
  local wrapped = require("luatest.websocket").wrap(ws, opts)
  self._websockets = self._websockets or {}
  self._websockets[#self._websockets + 1] = wrapped
  return wrapped
end

function ClientSession:closed()
  return self._closed
end

local function close_session(self, wait)
  if self._closed then
    return
  end
  self._closed = true
  for _, ws in ipairs(self._websockets or {}) do
    ws:_finish()
  end
  self._client:close(wait)
end

--- session:close(): its connections and WebSockets.
function ClientSession:close()
  close_session(self, true)
end

-- The same, not waiting until the connections are closed (TestClient:close
-- waits for its server's close, in the same loop turn).
function ClientSession:_close_nowait()
  close_session(self, false)
end

--- CookieJar{unsafe =, treat_as_secure_origin =}
M.CookieJar = cookiejar.CookieJar

M.BasicAuth_class = BasicAuth

return M
