--- luatest.web_response: aiohttp's Response and StreamResponse
--- (web_response.py), cookies, compression and json_response.
local core = require "luatest.core"
local json = require "luatest.json"
local helpers = require "luatest.helpers"
local multidict = require "luatest.multidict"

local CIMultiDict = multidict.CIMultiDict
local type, rawget, rawset, setmetatable, getmetatable = type, rawget, rawset, setmetatable, getmetatable
local error, tostring, format = error, tostring, string.format
local check_options, names = helpers.check_options, helpers.names

local M = {}

local RESPONSE_OPTIONS = names { "status", "reason", "text", "body", "content_type", "charset", "headers",
  "compress", "zlib_executor_size", "zlib_executor" }
local STREAM_OPTIONS = names { "status", "reason", "headers", "content_type", "charset" }
local JSON_OPTIONS = names { "status", "reason", "text", "body", "headers", "content_type", "dumps" }

local Response = {}
M.Response = Response
Response.__name = "Response"

-- Fields computed when not set: reason follows the status, and a
-- response without a type is application/octet-stream (as aiohttp).
local response_props = {
  text = function(self)
    return rawget(self, "body")
  end,
  reason = function(self)
    return core.status_reason(rawget(self, "status"))
  end,
  content_type = function()
    return "application/octet-stream"
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

-- (Under PUC Lua the check is one C call rather than a loop of next calls;
-- LuaJIT compiles the loop, and a C call would end its trace.)
local unknown_key = rawget(_G, "jit") and function()
  return false
end or core.unknown_key

local function new_response(opts)
  if unknown_key(opts, RESPONSE_OPTIONS) ~= nil then
    check_options("web.Response", opts, RESPONSE_OPTIONS, 3) -- (nil passes; the rest raise)
  end
  opts = opts or {}
  local status = opts.status or 200
  if status ~= 200 and type(status) ~= "number" then
    error("web.Response: status must be a number, got " .. type(status), 3)
  end
  local text, body = opts.text, opts.body
  if text ~= nil and body ~= nil then
    error("web.Response: text and body are mutually exclusive", 3)
  end
  local ctype, charset = opts.content_type, opts.charset
  if text ~= nil then
    if type(text) ~= "string" then
      error("web.Response: text must be a string, got " .. type(text), 3)
    end
    body = text
    ctype = ctype or "text/plain"
    charset = charset or "utf-8"
  elseif body ~= nil and type(body) ~= "string" then
    error("web.Response: body must be a string, got " .. type(body), 3)
  end
  -- (one constructor: the table is made with room for these fields at once)
  local self = { status = status, reason = opts.reason, body = body, content_type = ctype, charset = charset }
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
local StreamResponse = {}
M.StreamResponse = StreamResponse
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
  local ok, err = request:_stream_start(self.status, rawget(self, "reason"), ctype, flat)
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

--- A JSON response (luatest.json: integers stay integers, json.null is
--- null, json.array(t) marks an array).
function M.json_response(data, opts)
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

function M.is_response(x)
  return getmetatable(x) == Response
end

M._new_response = new_response

-- The coding to compress with for an Accept-Encoding value, in aiohttp's
-- order (ContentCoding: deflate, then gzip); nil for neither.
function M._accepted_coding(accept)
  accept = accept and accept:lower() or ""
  for _, coding in ipairs { "deflate", "gzip" } do
    if accept:find(coding, 1, true) then
      return coding
    end
  end
end

function M._headers_flat(resp)
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

-- "type; charset=x" for the few pairs a process uses, made once each
-- rather than concatenated for every response (at most 64 kept).
local with_charset_of, with_charset_n = {}, 0
local function with_charset(ctype, charset)
  local by_charset = with_charset_of[ctype]
  local v = by_charset and by_charset[charset]
  if v then
    return v
  end
  v = ctype .. "; charset=" .. charset
  if with_charset_n >= 64 then
    with_charset_of, with_charset_n = {}, 0
    by_charset = nil
  end
  if not by_charset then
    by_charset = {}
    with_charset_of[ctype] = by_charset
  end
  by_charset[charset] = v
  with_charset_n = with_charset_n + 1
  return v
end

--- _head(resp) -> the Content-Type value to send (nil: none, or set among
--- the headers), and the flat list of the other headers and cookies (nil:
--- none): _content_type_header and _headers_flat in one.
function M._head(resp)
  return M._head_of(rawget(resp, "headers"), rawget(resp, "_cookies"), rawget(resp, "content_type"),
    rawget(resp, "charset"), rawget(resp, "status"))
end

--- _head_of(headers, cookies, content_type, charset, status): _head from
--- the response's raw fields, for a caller that has them already.
function M._head_of(h, cookies, ctype, charset, status)
  local flat
  if (h ~= nil and (h._n or #h) ~= 0) or cookies then
    flat = h and h:flat() or {}
    if cookies then
      for _, name in ipairs(cookies.order) do
        flat[#flat + 1] = "Set-Cookie"
        flat[#flat + 1] = cookies[name]
      end
    end
  end
  if h ~= nil and h["Content-Type"] ~= nil then
    return nil, flat
  end
  if ctype == nil then
    if status == 204 or status == 304 then
      return nil, flat
    end
    ctype = "application/octet-stream"
  end
  if charset then
    return with_charset(ctype, charset), flat
  end
  return ctype, flat
end

function M._content_type_header(resp)
  local h = rawget(resp, "headers")
  if h ~= nil and h["Content-Type"] ~= nil then
    return nil -- the handler set it by hand
  end
  local ctype = rawget(resp, "content_type")
  if ctype == nil then
    local status = rawget(resp, "status")
    if status == 204 or status == 304 then
      return nil -- (aiohttp gives these no type)
    end
    ctype = "application/octet-stream"
  end
  local charset = rawget(resp, "charset")
  if charset then
    return with_charset(ctype, charset)
  end
  return ctype
end

return M
