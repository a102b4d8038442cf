--- luatest.web: the server side, shaped like aiohttp.web. Applications and
--- their routers, requests, responses, HTTP exceptions, and the dispatcher
--- that runs a handler (through the middlewares) for each request.
local core = require "luatest.core"
local json = require "luatest.json"
local multidict = require "luatest.multidict"

local MultiDict, CIMultiDict = multidict.MultiDict, multidict.CIMultiDict
local type, rawget, rawset, setmetatable, getmetatable = type, rawget, rawset, setmetatable, getmetatable
local compat = require "luatest.compat"
local error, xpcall, tostring, format = error, compat.xpcall, tostring, string.format -- (handlers wait)
local traceback, erring_thread, waiting_iterator = debug.traceback, compat.erring_thread, compat.waiting_iterator

local web = {}

--- check_options(call, opts, allowed, level): an unknown key of an options
--- table is an error naming the call and the key, as aiohttp's TypeError
--- for an unexpected keyword argument (allowed: a set of names).
function web._check_options(call, opts, allowed, level)
  if opts == nil then
    return
  end
  if type(opts) ~= "table" then
    error(format("%s: options must be a table, got %s", call, type(opts)), level + 1)
  end
  for k in next, opts do
    if not allowed[k] then
      error(format("%s: unknown option '%s'", call, tostring(k)), level + 1)
    end
  end
end
local check_options = web._check_options

local function names(list)
  local set = {}
  for _, k in ipairs(list) do
    set[k] = true
  end
  return set
end
web._names = names

local RESPONSE_OPTIONS = names { "status", "reason", "text", "body", "content_type", "charset", "headers",
  "compress", "zlib_executor_size", "zlib_executor" }
local STREAM_OPTIONS = names { "status", "reason", "headers", "content_type", "charset" }
local JSON_OPTIONS = names { "status", "reason", "text", "body", "headers", "content_type", "dumps" }
local EXCEPTION_OPTIONS = names { "headers", "reason", "text", "body", "content_type" }
local APP_OPTIONS = names { "middlewares", "client_max_size", "handler_args", "logger", "router", "loop",
  "debug" }
local WS_OPTIONS = names { "protocols", "max_msg_size", "heartbeat", "autoping", "autoclose", "headers",
  "timeout", "receive_timeout", "compress" }

-- ---- handler errors ------------------------------------------------------------

--- Tracebacks of Lua handlers that raised (each became a 500), for reports.
local handler_errors = {}
web._handler_errors = handler_errors

--- Called with (request, traceback) for every handler error, if set.
web._on_handler_error = nil

local function record_handler_error(request, tb, owner)
  local text = format("%s %s: %s", request.method, request.path_qs, tb)
  handler_errors[#handler_errors + 1] = text
  if owner then
    local list = owner._handler_errors
    list[#list + 1] = text
  end
  local hook = web._on_handler_error
  if hook then
    hook(request, text)
  end
end

-- ---- AppKey -------------------------------------------------------------------------

local AppKey = {}
AppKey.__index = AppKey
AppKey.__name = "AppKey"
AppKey.__tostring = function(self)
  return "<AppKey(" .. self.name .. ")>"
end

--- A typed key for application state, as aiohttp's web.AppKey.
function web.AppKey(name, t)
  return setmetatable({ name = name, type = t }, AppKey)
end

-- ---- HTTP exceptions ---------------------------------------------------------------

local HTTPException = {}
HTTPException.__index = HTTPException
HTTPException.__name = "HTTPException"
HTTPException.__tostring = function(self)
  return format("%d: %s", self.status, self.reason)
end
web.HTTPException = HTTPException

local function is_exception(x)
  local mt = getmetatable(x)
  while mt do
    if mt == HTTPException then
      return true
    end
    mt = rawget(mt, "__parent")
  end
  return false
end
web.is_http_exception = is_exception

local empty_body = { [204] = true, [304] = true }

local function init_exception(class, opts)
  check_options(class.__name or "HTTPException", opts, EXCEPTION_OPTIONS, 3)
  opts = opts or {}
  local status = class.status_code
  local reason = opts.reason or core.status_reason(status)
  local e = setmetatable({ status = status, reason = reason }, class)
  if opts.text ~= nil then
    e.text = opts.text
  elseif opts.body ~= nil then
    e.text = opts.body
  elseif empty_body[status] then
    e.text = ""
  else
    e.text = format("%d: %s", status, reason)
  end
  e.body = e.text
  e.content_type = opts.content_type or "text/plain"
  e.charset = "utf-8"
  e.headers = CIMultiDict(opts.headers)
  return e
end

local function exception_class(name, status, parent, ctor)
  local class = setmetatable({}, {
    __index = parent,
    __call = function(cls, ...)
      if ctor then
        return ctor(cls, ...)
      end
      return init_exception(cls, ...)
    end,
  })
  class.__index = class
  class.__name = name
  class.__parent = parent
  class.__tostring = HTTPException.__tostring
  class.status_code = status
  web[name] = class
  return class
end

local function redirect_ctor(cls, location, opts)
  if location == nil or location == "" then
    error(cls.__name .. ": location is required", 2)
  end
  local e = init_exception(cls, opts)
  e.location = tostring(location)
  e.headers["Location"] = e.location
  return e
end

local HTTPError = exception_class("HTTPError", 500, HTTPException)
local HTTPSuccessful = exception_class("HTTPSuccessful", 200, HTTPException)
local HTTPRedirection = exception_class("HTTPRedirection", 300, HTTPException)
local HTTPMove = exception_class("HTTPMove", 300, HTTPRedirection, redirect_ctor)
local HTTPClientError = exception_class("HTTPClientError", 400, HTTPError)
local HTTPServerError = exception_class("HTTPServerError", 500, HTTPError)

for _, spec in ipairs {
  { "HTTPOk", 200 }, { "HTTPCreated", 201 }, { "HTTPAccepted", 202 },
  { "HTTPNonAuthoritativeInformation", 203 }, { "HTTPNoContent", 204 },
  { "HTTPResetContent", 205 }, { "HTTPPartialContent", 206 },
} do
  exception_class(spec[1], spec[2], HTTPSuccessful)
end
for _, spec in ipairs {
  { "HTTPMultipleChoices", 300 }, { "HTTPMovedPermanently", 301 }, { "HTTPFound", 302 },
  { "HTTPSeeOther", 303 }, { "HTTPUseProxy", 305 }, { "HTTPTemporaryRedirect", 307 },
  { "HTTPPermanentRedirect", 308 },
} do
  exception_class(spec[1], spec[2], HTTPMove, redirect_ctor)
end
exception_class("HTTPNotModified", 304, HTTPRedirection)
for _, spec in ipairs {
  { "HTTPBadRequest", 400 }, { "HTTPUnauthorized", 401 }, { "HTTPPaymentRequired", 402 },
  { "HTTPForbidden", 403 }, { "HTTPNotFound", 404 }, { "HTTPNotAcceptable", 406 },
  { "HTTPProxyAuthenticationRequired", 407 }, { "HTTPRequestTimeout", 408 },
  { "HTTPConflict", 409 }, { "HTTPGone", 410 }, { "HTTPLengthRequired", 411 },
  { "HTTPPreconditionFailed", 412 }, { "HTTPRequestURITooLong", 414 },
  { "HTTPUnsupportedMediaType", 415 }, { "HTTPRequestRangeNotSatisfiable", 416 },
  { "HTTPExpectationFailed", 417 }, { "HTTPMisdirectedRequest", 421 },
  { "HTTPUnprocessableEntity", 422 }, { "HTTPFailedDependency", 424 },
  { "HTTPUpgradeRequired", 426 }, { "HTTPPreconditionRequired", 428 },
  { "HTTPTooManyRequests", 429 }, { "HTTPRequestHeaderFieldsTooLarge", 431 },
} do
  exception_class(spec[1], spec[2], HTTPClientError)
end
exception_class("HTTPMethodNotAllowed", 405, HTTPClientError, function(cls, method, allowed, opts)
  local e = init_exception(cls, opts)
  e.method = method and method:upper() or nil
  local list = {}
  for _, m in ipairs(allowed or {}) do
    list[#list + 1] = m:upper()
  end
  table.sort(list)
  e.allowed_methods = list
  e.headers["Allow"] = table.concat(list, ",")
  return e
end)
exception_class("HTTPRequestEntityTooLarge", 413, HTTPClientError, function(cls, max_size, actual, opts)
  opts = opts or {}
  if opts.text == nil and max_size then
    opts = setmetatable({
      text = format("Maximum request body size %d exceeded, actual body size %d", max_size, actual or 0),
    }, { __index = opts })
  end
  return init_exception(cls, opts)
end)
exception_class("HTTPUnavailableForLegalReasons", 451, HTTPClientError, function(cls, link, opts)
  local e = init_exception(cls, opts)
  e.link = link
  if link then
    e.headers["Link"] = format('<%s>; rel="blocked-by"', link)
  end
  return e
end)
for _, spec in ipairs {
  { "HTTPInternalServerError", 500 }, { "HTTPNotImplemented", 501 }, { "HTTPBadGateway", 502 },
  { "HTTPServiceUnavailable", 503 }, { "HTTPGatewayTimeout", 504 },
  { "HTTPVersionNotSupported", 505 }, { "HTTPVariantAlsoNegotiates", 506 },
  { "HTTPInsufficientStorage", 507 }, { "HTTPNotExtended", 510 },
  { "HTTPNetworkAuthenticationRequired", 511 },
} do
  exception_class(spec[1], spec[2], HTTPServerError)
end

-- ---- responses ------------------------------------------------------------------------

local Response = {}
web.Response = Response
Response.__name = "Response"

local response_props = {
  text = function(self)
    return rawget(self, "body")
  end,
  headers = function(self)
    local h = CIMultiDict()
    rawset(self, "headers", h)
    return h
  end,
}

Response.__index = function(self, key)
  local prop = response_props[key]
  if prop then
    return prop(self)
  end
  return Response[key]
end

Response.__newindex = function(self, key, value)
  if key == "text" then
    if value ~= nil and type(value) ~= "string" then
      error("response.text: expected a string, got " .. type(value), 2)
    end
    rawset(self, "body", value)
    if rawget(self, "content_type") == nil then
      rawset(self, "content_type", "text/plain")
      rawset(self, "charset", rawget(self, "charset") or "utf-8")
    end
  elseif key == "headers" then
    rawset(self, "headers", CIMultiDict(value))
  else
    rawset(self, key, value)
  end
end

Response.__tostring = function(self)
  return format("<Response %d %s>", self.status, self.reason or core.status_reason(self.status))
end

local cookie_attrs = {
  { "domain", "Domain" }, { "expires", "expires" }, { "httponly", "HttpOnly" },
  { "max_age", "Max-Age" }, { "path", "Path" }, { "samesite", "SameSite" }, { "secure", "Secure" },
}

--- Sets a cookie, as aiohttp's set_cookie: opts expires, domain, max_age,
--- path ("/"), secure, httponly, samesite. Attributes come out in the
--- order Python's http.cookies writes them.
function Response.set_cookie(self, name, value, opts)
  if type(name) ~= "string" or name == "" or name:find("[%s;,=%z\1-\31\127]") then
    error("resp:set_cookie: bad cookie name " .. tostring(name), 2)
  end
  value = tostring(value)
  if value:find("[;\r\n%z]") then
    error("resp:set_cookie: the value of " .. name .. " contains ';', CR, LF or NUL", 2)
  end
  opts = opts or {}
  local parts = { name .. "=" .. value }
  for _, a in ipairs(cookie_attrs) do
    local v = a[1] == "path" and (opts.path or "/") or opts[a[1]]
    if v == true then
      parts[#parts + 1] = a[2]
    elseif v ~= nil and v ~= false then
      parts[#parts + 1] = a[2] .. "=" .. tostring(v)
    end
  end
  local cookies = rawget(self, "_cookies")
  if not cookies then
    cookies = { order = {} }
    rawset(self, "_cookies", cookies)
  end
  if not cookies[name] then
    cookies.order[#cookies.order + 1] = name
  end
  cookies[name] = table.concat(parts, "; ")
end

local codings = { gzip = true, deflate = true }

--- resp:enable_compression([coding]): the body goes out compressed, with
--- the coding given ("gzip" or "deflate") or the one the request accepts
--- (deflate, then gzip, as aiohttp chooses); uncompressed when it accepts
--- neither.
function Response.enable_compression(self, force)
  if force ~= nil and not codings[force] then
    error("resp:enable_compression: unknown coding " .. tostring(force) .. " (gzip or deflate)", 2)
  end
  rawset(self, "_compression", force or true)
end

--- Deletes a cookie in the client: an empty value that expired long ago.
function Response.del_cookie(self, name, opts)
  opts = opts or {}
  Response.set_cookie(self, name, "", {
    max_age = 0, expires = "Thu, 01 Jan 1970 00:00:00 GMT", domain = opts.domain, path = opts.path,
  })
end

--- The cookies set so far, as name -> Set-Cookie value.
function response_props.cookies(self)
  local out, cookies = {}, rawget(self, "_cookies")
  for _, name in ipairs(cookies and cookies.order or {}) do
    out[name] = cookies[name]
  end
  return out
end

local function new_response(opts)
  check_options("web.Response", opts, RESPONSE_OPTIONS, 3)
  opts = opts or {}
  local status = opts.status or 200
  if type(status) ~= "number" then
    error("web.Response: status must be a number, got " .. type(status), 3)
  end
  local self = { status = status, reason = opts.reason }
  local text, body = opts.text, opts.body
  if text ~= nil and body ~= nil then
    error("web.Response: text and body are mutually exclusive", 3)
  end
  local ctype, charset = opts.content_type, opts.charset
  if text ~= nil then
    if type(text) ~= "string" then
      error("web.Response: text must be a string, got " .. type(text), 3)
    end
    self.body = text
    ctype = ctype or "text/plain"
    charset = charset or "utf-8"
  elseif body ~= nil then
    if type(body) ~= "string" then
      error("web.Response: body must be a string, got " .. type(body), 3)
    end
    self.body = body
  end
  self.content_type = ctype
  self.charset = charset
  if opts.headers ~= nil then
    self.headers = CIMultiDict(opts.headers)
  end
  if opts.compress then
    self._compression = opts.compress == true or opts.compress
  end
  return setmetatable(self, Response)
end

setmetatable(Response, {
  __call = function(_, opts)
    return new_response(opts)
  end,
})

-- ---- streamed responses -------------------------------------------------------------

local StreamResponse = {}
web.StreamResponse = StreamResponse
StreamResponse.__name = "StreamResponse"
StreamResponse.__index = function(self, key)
  local prop = response_props[key]
  if prop then
    return prop(self)
  end
  local m = StreamResponse[key]
  if m ~= nil then
    return m
  end
  return Response[key]
end
StreamResponse.__newindex = Response.__newindex
StreamResponse.__tostring = Response.__tostring

setmetatable(StreamResponse, {
  __call = function(_, opts)
    check_options("web.StreamResponse", opts, STREAM_OPTIONS, 2)
    opts = opts or {}
    local self = setmetatable({ status = opts.status or 200, reason = opts.reason,
      content_type = opts.content_type, charset = opts.charset, prepared = false, _eof = false }, StreamResponse)
    if opts.headers ~= nil then
      rawset(self, "headers", CIMultiDict(opts.headers))
    end
    return self
  end,
})

--- Compression of a body written in pieces is not there yet: an error
--- rather than a body that silently goes out as it is.
function StreamResponse:enable_compression()
  error("resp:enable_compression: not supported for a StreamResponse yet (use web.Response)", 2)
end

--- Sends the status line and headers; the body follows with write().
--- Without a Content-Length header the body is sent chunked.
function StreamResponse:prepare(request)
  if rawget(self, "prepared") then
    return self
  end
  local ctype = rawget(self, "content_type") or "application/octet-stream"
  local charset = rawget(self, "charset")
  local h = rawget(self, "headers")
  if h ~= nil and h["Content-Type"] ~= nil then
    ctype = nil
  elseif charset then
    ctype = ctype .. "; charset=" .. charset
  end
  local flat = h and h:flat() or nil
  local cookies = rawget(self, "_cookies")
  if cookies then
    flat = flat or {}
    for _, name in ipairs(cookies.order) do
      flat[#flat + 1] = "Set-Cookie"
      flat[#flat + 1] = cookies[name]
    end
  end
  local ok, err = request:_stream_start(self.status, self.reason, ctype, flat)
  if not ok then
    error("resp:prepare: " .. err, 2)
  end
  rawset(self, "prepared", true)
  rawset(self, "_request", request)
  return self
end

--- Sends a piece of the body.
function StreamResponse:write(data)
  local request = rawget(self, "_request")
  if not request then
    error("resp:write: call resp:prepare(request) first", 2)
  end
  if rawget(self, "_eof") then
    error("resp:write: the response was already ended with write_eof", 2)
  end
  local ok, err = request:_stream_write(tostring(data))
  if not ok then
    error("resp:write: " .. err, 2)
  end
end

--- Ends the body (after an optional last piece).
function StreamResponse:write_eof(data)
  if rawget(self, "_eof") then
    return
  end
  if data ~= nil and data ~= "" then
    self:write(data)
  end
  rawset(self, "_eof", true)
  local request = rawget(self, "_request")
  if request then
    local ok, err = request:_stream_end()
    if not ok and not err:find("^ECLOSED") then
      error("resp:write_eof: " .. err, 2)
    end
  end
end

-- ---- WebSockets ------------------------------------------------------------------------

local websocket = require "luatest.websocket"
local WebSocketResponse = setmetatable({}, { __index = websocket.WebSocket })

local ws_fields = { closed = true, close_code = true, protocol = true }
WebSocketResponse.__index = function(self, key)
  if ws_fields[key] then
    return websocket.WebSocket.__index(self, key)
  end
  return WebSocketResponse[key]
end
WebSocketResponse.__name = "WebSocketResponse"

--- The server side of a WebSocket: `local ws = web.WebSocketResponse(opts);
--- ws:prepare(request)`. opts: protocols, receive_timeout, max_msg_size,
--- heartbeat (seconds between pings; no pong within half of it drops the
--- peer with 1006), autoping (default true; false delivers pings and pongs
--- as messages, answered with ws:pong), autoclose (default true; false
--- delivers the peer's close, answered with ws:close), headers (extra
--- headers of the 101 answer), timeout (seconds ws:close waits for the
--- answer, 10 as aiohttp; then close_code is 1006).
function web.WebSocketResponse(opts)
  check_options("web.WebSocketResponse", opts, WS_OPTIONS, 2)
  opts = opts or {}
  return setmetatable({ _opts = opts, _receive_timeout = opts.receive_timeout }, WebSocketResponse)
end

--- Completes the upgrade. A request that is not a WebSocket upgrade is
--- refused with 400, as aiohttp does; the first of the client's offered
--- protocols that opts.protocols lists is chosen.
function WebSocketResponse:prepare(request)
  if rawget(self, "_ws") then
    return self
  end
  local status, text, version = request:_ws_refusal()
  if status == 426 then
    error(web.HTTPUpgradeRequired { text = text, headers = { ["Sec-WebSocket-Version"] = version } })
  elseif status then
    error(web.HTTPBadRequest { text = text })
  end
  local chosen
  local offered = request.headers["Sec-WebSocket-Protocol"]
  if offered and self._opts.protocols then
    for p in offered:gmatch("[^,%s]+") do
      for _, mine in ipairs(self._opts.protocols) do
        if p == mine and not chosen then
          chosen = p
        end
      end
    end
  end
  local opts = self._opts
  local lines = {}
  if opts.headers then
    multidict.each_pair(opts.headers, function(k, v)
      k, v = tostring(k), tostring(v)
      if k:find("[^%w!#$%%&'*+.^_`|~-]") or k == "" or v:find("[\r\n%z]") then
        error(format("ws:prepare: invalid header %s: %s", compat.quote(k), compat.quote(v)), 4)
      end
      lines[#lines + 1] = k .. ": " .. v .. "\r\n"
    end)
  end
  local ws, err = request:_ws_upgrade {
    protocol = chosen,
    headers = lines[1] and table.concat(lines) or nil,
    max_msg_size = opts.max_msg_size,
    heartbeat = opts.heartbeat,
    timeout = opts.timeout,
    autoping = opts.autoping,
    autoclose = opts.autoclose,
  }
  if not ws then
    error("ws:prepare: " .. err, 2)
  end
  rawset(self, "_ws", ws)
  request._luatest_ws = self
  return self
end

function web.is_websocket(x)
  return getmetatable(x) == WebSocketResponse
end

--- A JSON response (luatest.json: integers stay integers, json.null is
--- null, json.array(t) marks an array).
function web.json_response(data, opts)
  check_options("web.json_response", opts, JSON_OPTIONS, 2)
  opts = opts or {}
  local text = opts.text
  if text == nil and opts.body == nil then
    local ok, encoded = pcall(json.encode, data)
    if not ok then
      error("web.json_response: " .. tostring(encoded), 2)
    end
    text = encoded
  end
  return new_response {
    status = opts.status, reason = opts.reason, headers = opts.headers,
    text = text, body = text == nil and opts.body or nil,
    content_type = opts.content_type or "application/json",
  }
end

-- ---- files --------------------------------------------------------------------------

local mime_types = {
  html = "text/html", htm = "text/html", css = "text/css", js = "text/javascript",
  mjs = "text/javascript", json = "application/json", txt = "text/plain", csv = "text/csv",
  xml = "application/xml", svg = "image/svg+xml", png = "image/png", jpg = "image/jpeg",
  jpeg = "image/jpeg", gif = "image/gif", webp = "image/webp", ico = "image/vnd.microsoft.icon",
  pdf = "application/pdf", zip = "application/zip", gz = "application/gzip",
  wasm = "application/wasm", woff = "font/woff", woff2 = "font/woff2", ttf = "font/ttf",
  mp3 = "audio/mpeg", wav = "audio/x-wav", mp4 = "video/mp4", md = "text/markdown",
  lua = "text/x-lua",
}

local function guess_type(path)
  local ext = path:match("%.([%w]+)$")
  return ext and mime_types[ext:lower()] or "application/octet-stream"
end

local months = { Jan = 1, Feb = 2, Mar = 3, Apr = 4, May = 5, Jun = 6, Jul = 7, Aug = 8, Sep = 9,
  Oct = 10, Nov = 11, Dec = 12 }

-- Seconds since the epoch of an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT").
local function parse_http_date(value)
  local d, mon, y, h, mi, sec = (value or ""):match("(%d+) (%a%a%a) (%d%d%d%d) (%d%d):(%d%d):(%d%d)")
  local m = months[mon or ""]
  if not m then
    return nil
  end
  y, m, d = tonumber(y), m, tonumber(d)
  -- Days from the civil date (H. Hinnant's algorithm).
  y = m <= 2 and y - 1 or y
  -- (math.floor of a quotient, not //, which LuaJIT and 5.1 cannot parse;
  -- exact at these sizes, and an integer under 5.3+.)
  local floor = math.floor
  local era = floor((y >= 0 and y or y - 399) / 400)
  local yoe = y - era * 400
  local doy = floor((153 * (m + (m > 2 and -3 or 9)) + 2) / 5) + d - 1
  local doe = yoe * 365 + floor(yoe / 4) - floor(yoe / 100) + doy
  local days = era * 146097 + doe - 719468
  return days * 86400 + tonumber(h) * 3600 + tonumber(mi) * 60 + tonumber(sec)
end
web._parse_http_date = parse_http_date

local function http_date(t)
  return os.date("!%a, %d %b %Y %H:%M:%S GMT", t)
end

-- Reads the file when the response is sent: 404 when it is missing, 403 for
-- a directory, 304 when the client's copy is current.
local function prepare_file(resp, request)
  local path = rawget(resp, "_path")
  local kind, _, mtime = core.stat(path)
  if kind == "dir" then
    error(web.HTTPForbidden())
  elseif kind ~= "file" then
    error(web.HTTPNotFound())
  end
  local headers = resp.headers
  headers["Last-Modified"] = http_date(mtime)
  local since = parse_http_date(request.headers["If-Modified-Since"])
  if since and mtime <= since then
    resp.status = 304
    rawset(resp, "body", nil)
    rawset(resp, "content_type", nil)
    return resp
  end
  local f = io.open(path, "rb")
  if not f then
    error(web.HTTPForbidden())
  end
  local data = f:read("*a") -- (5.1 knows only the "*" forms)
  f:close()
  rawset(resp, "body", data)
  if rawget(resp, "content_type") == nil then
    rawset(resp, "content_type", guess_type(path))
  end
  return resp
end

--- A response with a file's content, read when it is sent; Content-Type
--- from the extension, Last-Modified from the file, and 304 Not Modified for
--- a request whose If-Modified-Since is not older than the file.
function web.FileResponse(path, opts)
  if type(path) ~= "string" then
    error("web.FileResponse: path must be a string, got " .. type(path), 2)
  end
  opts = opts or {}
  local resp = new_response { status = opts.status, reason = opts.reason, headers = opts.headers,
    content_type = opts.content_type }
  rawset(resp, "_path", path)
  rawset(resp, "_prepare", prepare_file)
  return resp
end

function web.is_response(x)
  return getmetatable(x) == Response
end

-- ---- requests --------------------------------------------------------------------------

local Request = { __props = {} }
web.Request = Request
local props = Request.__props

local function parse_content_type(value)
  if not value then
    return "application/octet-stream", nil
  end
  local mime = value:match("^%s*([^;%s]+)") or "application/octet-stream"
  local charset = value:match(";%s*[cC][hH][aA][rR][sS][eE][tT]%s*=%s*\"?([^;\"%s]+)")
  return mime:lower(), charset
end
web._parse_content_type = parse_content_type

function props.headers(req)
  return CIMultiDict.from_flat(req:_headers())
end

function props.match_info(req)
  return req:_match()
end

function props.query(req)
  local flat, err = req:_query()
  if not flat then
    error(web.HTTPBadRequest { text = "400: Bad Request\n\nrequest.query: " .. err })
  end
  return MultiDict.from_flat(flat)
end

function props.content_type(req)
  return (parse_content_type(req.headers["Content-Type"]))
end

function props.charset(req)
  local _, charset = parse_content_type(req.headers["Content-Type"])
  return charset
end

function props.cookies(req)
  local out = {}
  for _, header in ipairs(req.headers:getall("Cookie")) do
    for pair in header:gmatch("[^;]+") do
      local k, v = pair:match("^%s*([^=]-)%s*=%s*(.-)%s*$")
      if k and k ~= "" then
        v = v:match('^"(.*)"$') or v
        if out[k] == nil then
          out[k] = v
        end
      end
    end
  end
  return out
end

function props.url(req)
  return format("%s://%s%s", req.scheme, req.host or "localhost", req.path_qs)
end

--- The body decoded as text.
function Request.text(self)
  return self:read()
end

--- The body parsed as JSON (luatest.json). Invalid JSON raises an error that
--- names the parse position.
function Request.json(self)
  local ok, value = pcall(json.decode, self:read())
  if not ok then
    error("request:json: invalid JSON: " .. tostring(value), 2)
  end
  return value
end

-- ---- bodies: multipart, streams ------------------------------------------------------

local function bad_request(what)
  return web.HTTPBadRequest { text = "400: Bad Request\n\n" .. what }
end

-- Parameters of a header value such as `form-data; name="f"; filename="a b.txt"`.
local function header_params(value)
  local params = {}
  for key, quoted, plain in (value or ""):gmatch(';%s*([%w%-_%*]+)%s*=%s*(%b"")([^;]*)') do
    params[key:lower()] = quoted:sub(2, -2):gsub('\\(.)', "%1") .. plain:gsub("%s+$", "")
  end
  for key, plain in (value or ""):gmatch(";%s*([%w%-_%*]+)%s*=%s*([^\";][^;]*)") do
    key = key:lower()
    if params[key] == nil then
      params[key] = plain:gsub("%s+$", "")
    end
  end
  return params
end
web._header_params = header_params

local BodyPart = {}
BodyPart.__index = BodyPart
BodyPart.__name = "BodyPartReader"

--- The part's content as a string.
function BodyPart:read()
  return self.content
end
BodyPart.text = BodyPart.read

--- The part's content parsed as JSON.
function BodyPart:json()
  return json.decode(self.content)
end

--- Splits a multipart body into parts (in C, each part copied once);
--- raises HTTPBadRequest when it is malformed. Each part: name, filename,
--- content_type, headers, content.
local function parse_multipart(request)
  local boundary = header_params(request.headers["Content-Type"]).boundary
  if not boundary or boundary == "" or #boundary > 200 then
    error(bad_request("multipart body without a boundary"))
  end
  local raw, why = request:_multipart(boundary)
  if not raw then
    error(bad_request("malformed multipart body: " .. why))
  end
  local parts = {}
  for i, part in ipairs(raw) do
    local flat = {}
    for line in part.head:gmatch("(.-)\r\n") do
      local name, value = line:match("^([^:%s]+)%s*:%s*(.-)%s*$")
      if not name then
        error(bad_request("malformed multipart body: bad part header line"))
      end
      flat[#flat + 1] = name
      flat[#flat + 1] = value
    end
    local headers = CIMultiDict.from_flat(flat)
    local disposition = header_params(headers["Content-Disposition"])
    parts[i] = setmetatable({
      headers = headers,
      name = disposition.name,
      filename = disposition.filename,
      content_type = headers["Content-Type"] or (disposition.filename and "application/octet-stream") or "text/plain",
      content = part.content,
    }, BodyPart)
  end
  return parts
end

--- Form fields of an urlencoded or multipart/form-data body as a
--- MultiDict; file parts are {filename=, content_type=, content=}. Other
--- content types give an empty MultiDict, as in aiohttp.
function Request.post(self)
  local ctype = self.content_type
  if ctype == "application/x-www-form-urlencoded" then
    local flat, err = core.parse_qs(self:read())
    if not flat then
      error(bad_request("malformed form data: " .. err))
    end
    return MultiDict.from_flat(flat)
  elseif ctype == "multipart/form-data" then
    local form = MultiDict()
    for _, part in ipairs(parse_multipart(self)) do
      if part.filename then
        form:add(part.name, { filename = part.filename, content_type = part.content_type,
          content = part.content, name = part.name, headers = part.headers })
      else
        form:add(part.name, part.content)
      end
    end
    return form
  end
  return MultiDict()
end

local MultipartReader = {}
MultipartReader.__index = MultipartReader
MultipartReader.__name = "MultipartReader"

--- The next part, or nil after the last.
function MultipartReader:next()
  self._i = self._i + 1
  return self._parts[self._i]
end

--- Iterates the parts: `for part in reader:parts() do ... end`.
function MultipartReader:parts()
  return function()
    return self:next()
  end
end

--- A reader over the parts of a multipart body (any multipart/* type).
function Request.multipart(self)
  local header = self.headers["Content-Type"]
  if not (self.content_type or ""):find("^multipart/") then
    error(bad_request("request:multipart: the body is " .. tostring(self.content_type) .. ", not multipart"), 2)
  end
  return setmetatable({ _parts = parse_multipart(self), _i = 0 }, MultipartReader)
end

local StreamReader = {}
StreamReader.__index = StreamReader
StreamReader.__name = "StreamReader"

-- _buf holds bytes in and not read from _pos on; _pull, until the end has
-- come, gives the next piece ("" at the end).
local function fill(self)
  local pull = self._pull
  if not pull then
    return false
  end
  local piece = pull()
  if piece == "" then
    self._pull = nil
    return false
  end
  local pos = self._pos
  if pos > #self._buf then
    self._buf = piece
  else
    self._buf = self._buf:sub(pos) .. piece
  end
  self._pos = 1
  return true
end

local function take(self, n)
  local pos = self._pos
  local chunk = self._buf:sub(pos, pos + n - 1)
  self._pos = pos + #chunk
  return chunk
end

--- Up to n bytes, waiting for the first of them (all that is left when n
--- is nil or -1); "" at the end.
function StreamReader:read(n)
  if n == nil or n < 0 then
    local parts = { self._buf:sub(self._pos) }
    self._buf, self._pos = "", 1
    local pull = self._pull
    while pull do
      local piece = pull()
      if piece == "" then
        self._pull = nil
        break
      end
      parts[#parts + 1] = piece
    end
    return table.concat(parts)
  end
  if self._pos > #self._buf then
    fill(self)
  end
  return take(self, n)
end

--- Exactly n bytes; an error when the body ends before.
function StreamReader:readexactly(n)
  while #self._buf - self._pos + 1 < n and fill(self) do
  end
  local chunk = take(self, n)
  if #chunk < n then
    error(format("content:readexactly: %d bytes wanted, %d left", n, #chunk), 2)
  end
  return chunk
end

--- One line including its "\n" (what is left at the end; "" after it).
function StreamReader:readline()
  local from = self._pos
  while true do
    local nl = self._buf:find("\n", from, true)
    if nl then
      return take(self, nl - self._pos + 1)
    end
    local scanned = #self._buf - self._pos + 1
    if not fill(self) then
      return take(self, scanned)
    end
    from = scanned + 1
  end
end

--- What has arrived (waiting for something if nothing has); "" at the end.
function StreamReader:readany()
  if self._pos > #self._buf then
    fill(self)
  end
  return take(self, #self._buf - self._pos + 1)
end

--- Whether everything was read.
function StreamReader:at_eof()
  return self._pos > #self._buf and not self._pull
end

--- Iterates chunks of at most n bytes.
function StreamReader:iter_chunked(n)
  return waiting_iterator("content:iter_chunked", "content:read(n)", function()
    local chunk = self:read(n)
    if chunk ~= "" then
      return chunk
    end
  end)
end

--- Iterates what arrives, as it arrives.
function StreamReader:iter_any()
  return waiting_iterator("content:iter_any", "content:readany()", function()
    local chunk = self:readany()
    if chunk ~= "" then
      return chunk
    end
  end)
end

--- Iterates lines (with their "\n").
function StreamReader:iter_lines()
  return waiting_iterator("content:iter_lines", "content:readline()", function()
    local line = self:readline()
    if line ~= "" then
      return line
    end
  end)
end

--- A reader over data, then (when given) the pieces pull() returns until
--- it returns "".
function web._stream_reader(data, pull)
  return setmetatable({ _buf = data or "", _pos = 1, _pull = pull }, StreamReader)
end

function props.content(req)
  return web._stream_reader(req:read())
end

core.set_request_class(Request)

-- ---- routing ---------------------------------------------------------------------------

local function check_handler(call, handler)
  local t = type(handler)
  if t == "function" or t == "userdata" then
    return
  end
  if t == "table" then
    local mt = getmetatable(handler)
    if mt and mt.__call then
      return
    end
  end
  error(format("%s: handler must be a function or callable, got %s", call, t), 3)
end

local Resource = {}
Resource.__index = Resource

--- The URL of a named route with its `{name}` parts filled in; `query` is
--- appended as a query string.
function Resource:url_for(parts, query)
  parts = parts or {}
  local url = ((self.app and self.app._prefix or "") .. self.path):gsub("{([%w_]+)[^}]*}", function(name)
    local v = parts[name]
    if v == nil then
      error(format("url_for: route '%s' needs a value for '%s'", self.name, name), 3)
    end
    return core.urlencode(tostring(v), false)
  end)
  if query then
    local q = {}
    multidict.each_pair(query, function(k, v)
      q[#q + 1] = core.urlencode(tostring(k), true) .. "=" .. core.urlencode(tostring(v), true)
    end)
    if #q > 0 then
      url = url .. "?" .. table.concat(q, "&")
    end
  end
  return url
end

local Router = {}
Router.__name = "UrlDispatcher"

function Router.add_route(self, method, path, handler, opts)
  if type(method) ~= "string" then
    error("router:add_route: method must be a string, got " .. type(method), 2)
  end
  if type(path) ~= "string" then
    error("router:add_route: path must be a string, got " .. type(path), 2)
  end
  check_handler("router:add_route", handler)
  local app = rawget(self, "_app")
  if app and app._frozen then
    error("router:add_route: cannot add routes to an application that is already running", 2)
  end
  self._core:add(method:upper(), path, handler)
  local name = opts and opts.name
  local resource = setmetatable({ method = method:upper(), path = path, name = name, handler = handler,
    app = app }, Resource)
  self._routes[#self._routes + 1] = resource
  if name then
    if self._named[name] then
      error(format("router:add_route: duplicate route name '%s'", name), 2)
    end
    self._named[name] = resource
  end
  return resource
end

for _, method in ipairs { "post", "put", "patch", "delete", "head", "options" } do
  Router["add_" .. method] = function(self, path, handler, opts)
    return Router.add_route(self, method:upper(), path, handler, opts)
  end
end

--- GET routes answer HEAD too unless opts.allow_head is false.
function Router.add_get(self, path, handler, opts)
  local resource = Router.add_route(self, "GET", path, handler, opts)
  if not (opts and opts.allow_head == false) then
    self._core:add("HEAD", path, handler)
    resource.allow_head = true
  end
  return resource
end

--- Serves the files below directory `dir` under URL prefix `prefix`
--- (GET and HEAD). Paths that climb out of dir answer 404, directories 403.
function Router.add_static(self, prefix, dir, opts)
  if type(prefix) ~= "string" or prefix:sub(1, 1) ~= "/" then
    error("router:add_static: prefix should start with '/', got " .. tostring(prefix), 2)
  end
  if type(dir) ~= "string" or core.stat(dir) ~= "dir" then
    error("router:add_static: no such directory: " .. tostring(dir), 2)
  end
  prefix = prefix:gsub("/+$", "")
  dir = dir:gsub("/+$", "")
  local function handler(request)
    local rel = request.match_info.filename
    if rel:sub(1, 1) == "/" then
      error(web.HTTPForbidden())
    end
    local parts = {}
    for seg in rel:gmatch("[^/]+") do
      if seg == ".." then
        if #parts == 0 then
          error(web.HTTPNotFound())
        end
        parts[#parts] = nil
      elseif seg ~= "." then
        parts[#parts + 1] = seg
      end
    end
    return web.FileResponse(dir .. "/" .. table.concat(parts, "/"))
  end
  return Router.add_get(self, prefix .. "/{filename:.*}", handler, opts)
end

function Router.routes(self)
  return self._routes
end

function Router.named_resources(self)
  return self._named
end

Router.__index = function(self, key)
  local m = Router[key]
  if m ~= nil then
    return m
  end
  return self._named[key]
end

local function new_router(app)
  return setmetatable({ _core = core.router(), _routes = {}, _named = {}, _app = app }, Router)
end

-- ---- applications --------------------------------------------------------------------

local Application = {}
Application.__name = "Application"

local app_fields = {
  router = true, middlewares = true, on_startup = true, on_shutdown = true,
  on_cleanup = true, cleanup_ctx = true, client_max_size = true, frozen = true,
}

Application.__index = function(self, key)
  local f = rawget(self, "_fields")[key]
  if f ~= nil then
    return f
  end
  local m = Application[key]
  if m ~= nil then
    return m
  end
  return rawget(self, "_state")[key]
end

Application.__newindex = function(self, key, value)
  if app_fields[key] then
    error(format("app.%s: cannot assign to a field of the application (store your own data "
      .. "under another key)", tostring(key)), 2)
  end
  rawget(self, "_state")[key] = value
end

Application.__tostring = function(self)
  return format("<Application 0x%s>", tostring(rawget(self, "_state")):match("0x(%x+)") or "?")
end

--- A new application: `web.Application{middlewares = {...}, client_max_size = n}`.
function web.Application(opts)
  opts = opts or {}
  if type(opts) ~= "table" then
    error("web.Application: expected an options table, got " .. type(opts), 2)
  end
  check_options("web.Application", opts, APP_OPTIONS, 2)
  local self = setmetatable({ _state = {}, _fields = {}, _frozen = false, _subapps = {} }, Application)
  local f = rawget(self, "_fields")
  f.router = new_router(self)
  f.middlewares = opts.middlewares or {}
  f.on_startup, f.on_shutdown, f.on_cleanup, f.cleanup_ctx = {}, {}, {}, {}
  f.client_max_size = opts.client_max_size or 1024 * 1024
  return self
end

function web.is_application(x)
  return getmetatable(x) == Application
end

--- Marks the application as running: routes can no longer be added.
function Application.freeze(self)
  if rawget(self, "_frozen") then
    return
  end
  rawset(self, "_frozen", true)
  for _, sub in ipairs(rawget(self, "_subapps")) do
    self:_mount(sub.prefix, sub.app)
  end
end

local with_middlewares

-- Adds a sub-application's routes (its own sub-applications' too) to this
-- application's route table under prefix. Each runs with request.app set to
-- the sub-application and through its middlewares, inside the parent's.
function Application._mount(self, prefix, sub)
  sub:freeze()
  local core_router = self.router._core
  local function add(routes, owner, pre)
    for _, resource in ipairs(routes) do
      local handler = resource.handler
      local function in_subapp(request)
        request:_set_app(owner)
        return with_middlewares(owner, handler)(request)
      end
      core_router:add(resource.method, pre .. resource.path, in_subapp)
      if resource.method == "GET" and resource.allow_head then
        core_router:add("HEAD", pre .. resource.path, in_subapp)
      end
    end
  end
  add(sub.router._routes, sub, prefix)
  for _, nested in ipairs(rawget(sub, "_subapps")) do
    add(nested.app.router._routes, nested.app, prefix .. nested.prefix)
  end
end

--- Serves sub's routes below prefix (e.g. "/admin"): its middlewares and
--- signals apply to them, and request.app is sub inside its handlers.
function Application.add_subapp(self, prefix, sub)
  if type(prefix) ~= "string" or prefix:sub(1, 1) ~= "/" or prefix == "/" then
    error("app:add_subapp: prefix should start with '/' and not be '/' alone, got " .. tostring(prefix), 2)
  end
  if not web.is_application(sub) then
    error("app:add_subapp: expected an Application as argument 2, got " .. type(sub), 2)
  end
  if rawget(self, "_frozen") then
    error("app:add_subapp: cannot add a sub-application to a running application", 2)
  end
  prefix = prefix:gsub("/+$", "")
  rawset(sub, "_prefix", prefix)
  local subs = rawget(self, "_subapps")
  subs[#subs + 1] = { prefix = prefix, app = sub }
  return sub
end

--- Applications whose signals run with this one's: itself, then each
--- sub-application (depth first).
function Application._all_apps(self, out)
  out = out or {}
  out[#out + 1] = self
  for _, sub in ipairs(rawget(self, "_subapps")) do
    sub.app:_all_apps(out)
  end
  return out
end

-- ---- dispatching -----------------------------------------------------------------------

local function internal_error()
  return new_response {
    status = 500,
    text = "500 Internal Server Error\n\nServer got itself in trouble",
  }
end

-- Carries a non-exception error with its traceback out of xpcall.
local Failure = {}

local function on_error(err)
  if is_exception(err) then
    return err
  end
  -- (A thread: under 5.1 this runs after the fact, on the failed coroutine.)
  local co = erring_thread()
  local tb = co and traceback(co, tostring(err), 0) or traceback(tostring(err), 2)
  return setmetatable({ err = err, traceback = tb }, Failure)
end

local function no_route(status, allow)
  return function(request)
    if status == 405 then
      local allowed = {}
      for m in allow:gmatch("[^,]+") do
        allowed[#allowed + 1] = m
      end
      error(web.HTTPMethodNotAllowed(request.method, allowed))
    end
    error(web.HTTPNotFound())
  end
end

with_middlewares = function(app, handler)
  local mws = app and app.middlewares
  if not mws or #mws == 0 then
    return handler
  end
  for i = #mws, 1, -1 do
    local mw, inner = mws[i], handler
    handler = function(request)
      return mw(request, inner)
    end
  end
  return handler
end

-- A C handler called from Lua answers {status=, headers={flat}, body=};
-- middlewares get a web.Response they can read and change.
local function from_c(handler)
  return function(request)
    local r = handler(request)
    if r == nil then
      return nil -- it streamed its answer itself
    end
    return new_response { status = r.status, body = r.body,
      headers = CIMultiDict.from_flat(r.headers) }
  end
end

local function call_handler(request, handler, status, allow)
  if status ~= 200 then
    handler = no_route(status, allow)
  elseif type(handler) == "userdata" then
    handler = from_c(handler)
  end
  handler = with_middlewares(request.app, handler)
  local resp = handler(request)
  local prepare = type(resp) == "table" and rawget(resp, "_prepare")
  if prepare then
    return prepare(resp, request)
  end
  return resp
end

-- The coding to compress with for an Accept-Encoding value, in aiohttp's
-- order (ContentCoding: deflate, then gzip); nil for neither.
local function accepted_coding(accept)
  accept = accept and accept:lower() or ""
  for _, coding in ipairs { "deflate", "gzip" } do
    if accept:find(coding, 1, true) then
      return coding
    end
  end
end

local function headers_flat(resp)
  local h = rawget(resp, "headers")
  local cookies = rawget(resp, "_cookies")
  if (h == nil or (h._n or #h) == 0) and not cookies then -- (_n: LuaJIT has no __len)
    return nil
  end
  local flat = h and h:flat() or {}
  if cookies then
    for _, name in ipairs(cookies.order) do
      flat[#flat + 1] = "Set-Cookie"
      flat[#flat + 1] = cookies[name]
    end
  end
  return flat
end

local function content_type_header(resp)
  local h = rawget(resp, "headers")
  if h ~= nil and h["Content-Type"] ~= nil then
    return nil -- the handler set it by hand
  end
  local ctype = rawget(resp, "content_type")
  if ctype == nil then
    if rawget(resp, "body") == nil then
      return nil
    end
    ctype = "application/octet-stream"
  end
  local charset = rawget(resp, "charset")
  if charset then
    return ctype .. "; charset=" .. charset
  end
  return ctype
end

local function send(request, resp)
  if getmetatable(resp) == WebSocketResponse then
    resp:_finish() -- the handler is done with it
    return true
  end
  if resp == nil and request:_answered() then
    -- A handler that prepared a WebSocket and returned nothing: the
    -- connection is dropped (the peer sees 1006), as aiohttp drops it.
    local ws = request._luatest_ws
    if ws and rawget(ws, "_ws") then
      rawget(ws, "_ws"):_release()
    end
    return true
  end
  local t = type(resp)
  if t == "table" and getmetatable(resp) == StreamResponse then
    -- A stream the handler did not end is ended for it, as aiohttp does.
    if not rawget(resp, "prepared") then
      resp:prepare(request)
    end
    resp:write_eof()
    return true
  end
  if t == "string" then
    return request:_respond(200, nil, "text/plain; charset=utf-8", nil, resp)
  end
  local mt = t == "table" and getmetatable(resp)
  if mt == Response or (mt and is_exception(resp)) then
    local body = rawget(resp, "body")
    local flat = headers_flat(resp)
    local coding = rawget(resp, "_compression")
    if coding and body then
      if coding == true then
        coding = accepted_coding(request.headers["Accept-Encoding"])
      end
      if coding then
        body = core.compress(body, coding)
        flat = flat or {}
        flat[#flat + 1] = "Content-Encoding"
        flat[#flat + 1] = coding
      end
    end
    return request:_respond(resp.status, resp.reason, content_type_header(resp), flat, body)
  end
  return nil, format("handler returned %s: expected a web.Response, a string or an HTTP exception", t)
end

local function fail(request, tb, owner)
  record_handler_error(request, tb, owner)
  local r = internal_error()
  request:_respond(r.status, nil, content_type_header(r), nil, r.body)
end

--- Runs one request: the handler through the middlewares, then the answer.
--- Called by the server binding in a task of its own; handler errors are
--- also recorded in owner._handler_errors when an owner is given.
function web._dispatch(request, handler, status, allow, owner)
  local ok, resp = xpcall(call_handler, on_error, request, handler, status, allow)
  if not ok and getmetatable(resp) == Failure then
    return fail(request, resp.traceback, owner)
  end
  local sent, err = send(request, resp)
  if not sent and err and not err:find("^ECLOSED") then
    fail(request, err, owner)
  end
end

--- A dispatcher that records handler errors in owner._handler_errors.
function web._dispatcher_for(owner)
  local dispatch = web._dispatch
  return function(request, handler, status, allow)
    return dispatch(request, handler, status, allow, owner)
  end
end

return web
