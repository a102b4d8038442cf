--- luatest.client_reqrep: the client's response (aiohttp's ClientResponse)
--- and its errors. A response is returned once its head has arrived; its
--- body is read as it comes through resp.content, or whole by read(),
--- text() and json().
local core = require "luatest.core"
local helpers = require "luatest.helpers"
local streams = require "luatest.streams"
local json = require "luatest.json"
local multidict = require "luatest.multidict"
local errors = require "luatest.client_exceptions"

local format, type, error, setmetatable, getmetatable, rawget, rawset, ipairs, pairs, tostring, pcall =
  string.format, type, error, setmetatable, getmetatable, rawget, rawset, ipairs, pairs, tostring,
  require("luatest.compat").pcall or pcall

local CIMultiDict = multidict.CIMultiDict

local M = { errors = errors }

local ClientResponse = {}
ClientResponse.__name = "ClientResponse"
ClientResponse.__tostring = function(self)
  return format("<ClientResponse(%s) [%d %s]>", self.url, self.status, self.reason)
end
M.ClientResponse = ClientResponse

-- Fields built on first use: most tests read only the status and the body.
local props = {}

function props.headers(self)
  return CIMultiDict.from_flat(self._raw_headers)
end

function props.content_type(self)
  local ctype, charset = helpers.parse_content_type(self.headers["Content-Type"])
  rawset(self, "charset", charset or false)
  return ctype
end

function props.charset(self)
  local _ = self.content_type
  return rawget(self, "charset")
end

--- resp.cookies: name -> value of the cookies this response set.
function props.cookies(self)
  local cookies = {}
  for _, sc in ipairs(self.headers:getall("Set-Cookie")) do
    local k, v = sc:match("^%s*([^=;]-)%s*=%s*([^;]*)")
    if k and k ~= "" then
      cookies[k] = v:match('^"(.*)"$') or v
    end
  end
  return cookies
end

function props.url(self)
  return format("%s://%s:%d%s", self._scheme, self._host, self._port, self._target)
end

function props.real_url(self)
  return self.url
end

function props.ok(self)
  return self.status < 400
end

function props.request_info(self)
  return { method = self.method, url = self.url, real_url = self.url, headers = self._request_headers or {} }
end

function props.history()
  return {}
end

local function timeout_error(resp)
  return errors.ServerTimeoutError { text = format("content:read: timed out after %gs (%s)", resp._timeout,
    resp.url) }
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
          error(timeout_error(resp), 0)
        end
      end
      local chunk, err = stream:_read(nil, timeout)
      if chunk then
        return chunk
      end
      if err then
        if err:find("^ETIMEDOUT") then
          error(timeout_error(resp), 0)
        end
        error(errors.ClientPayloadError { text = format("content:read: %s (%s)", err, resp.url),
          message = err }, 0)
      end
    end
  end
end

--- resp.content: the body as it arrives (read(n), readline(), readany(),
--- readexactly(n), iter_chunked(n), iter_any(), iter_lines(), at_eof()).
function props.content(self)
  local body = rawget(self, "_body")
  if body then
    return streams.stream_reader(body)
  end
  return streams.stream_reader("", body_pull(self))
end

ClientResponse.__index = function(self, key)
  local prop = props[key]
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

--- new(raw, method, scheme, host, port, target, history, deadline, timeout,
--- request_headers)
--- The response is raw itself (the core client's table, made with room for
--- these fields), its fields renamed: no second table per request.
function M.new_response(raw, method, scheme, host, port, target, history, deadline, timeout, request_headers)
  local headers, body, stream = raw.headers, raw.body, raw.stream
  raw.headers, raw.body, raw.stream, raw.keep_alive = nil, nil, nil, nil
  raw.method = method
  raw.history = history
  raw._scheme = scheme
  raw._host = host
  raw._port = port
  raw._target = target
  raw._raw_headers = headers
  raw._body = body or false
  raw._stream = stream
  raw._deadline = deadline
  raw._timeout = timeout
  raw._request_headers = request_headers
  return setmetatable(raw, ClientResponse)
end

--- The body as a string (the rest of it, after reads from resp.content).
function ClientResponse:read()
  local body = rawget(self, "_body")
  if not body then
    body = self.content:read()
    rawset(self, "_body", body)
  end
  -- (what a failing test's report shows of it: luatest.exchanges)
  rawset(self, "_read", true)
  return body
end

--- The body as text. (Bodies are bytes in Lua: no re-encoding.)
function ClientResponse:text()
  return self:read()
end

local function json_type_ok(ctype, expected)
  if expected == "application/json" then
    return ctype:match("^application/json") ~= nil or ctype:match("^application/[%w_.+-]+%+json") ~= nil
  end
  return ctype:find(expected, 1, true) ~= nil
end

--- resp:json({content_type = "application/json"}): the body parsed as
--- JSON; another content type is a ContentTypeError (content_type = false
--- skips the check), as aiohttp; an empty body is nil.
function ClientResponse:json(opts)
  local expected = "application/json"
  if opts ~= nil then
    if type(opts) ~= "table" then
      error("resp:json: options must be a table, got " .. type(opts), 2)
    end
    for k in pairs(opts) do
      if k ~= "content_type" and k ~= "loads" then
        error(format("resp:json: unknown option '%s'", tostring(k)), 2)
      end
    end
    if opts.content_type ~= nil then
      expected = opts.content_type
    end
  end
  local body = self:read()
  if expected then
    local ctype = (self.headers["Content-Type"] or ""):lower()
    if not json_type_ok(ctype, expected) then
      error(errors.ContentTypeError {
        text = format("resp:json: %d, message='Attempt to decode JSON with unexpected mimetype: %s', url='%s'",
          self.status, ctype, self.url),
        status = self.status,
        message = "Attempt to decode JSON with unexpected mimetype: " .. ctype,
        headers = self.headers,
        request_info = self.request_info,
        history = self.history,
      }, 2)
    end
  end
  if not body:find("%S") then
    return nil
  end
  local decode = opts and opts.loads or json.decode
  local ok, value = pcall(decode, body)
  if not ok then
    error(format("resp:json: invalid JSON in the response to %s %s: %s", self.method, self.url, tostring(value)), 2)
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
ClientResponse.close = ClientResponse.release

--- A ClientResponseError for a status >= 400 (aiohttp's text:
--- "404, message='Not Found', url='...'").
function ClientResponse:raise_for_status()
  if self.status >= 400 then
    self:release()
    error(errors.ClientResponseError {
      status = self.status,
      message = self.reason,
      headers = self.headers,
      request_info = self.request_info,
      history = self.history,
      url = self.url,
    }, 2)
  end
end

function M.is_response(x)
  return getmetatable(x) == ClientResponse
end

return M
