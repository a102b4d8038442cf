--- luatest.web_request: aiohttp's Request (web_request.py): the fields the
--- core parsed, computed ones (headers, query, cookies...) cached on first
--- use, and the body as text, JSON, a form or a multipart reader.
local core = require "luatest.core"
local json = require "luatest.json"
local helpers = require "luatest.helpers"
local multidict = require "luatest.multidict"
local streams = require "luatest.streams"
local exceptions = require "luatest.web_exceptions"

local MultiDict, CIMultiDict = multidict.MultiDict, multidict.CIMultiDict
local setmetatable, rawget, ipairs, pcall, error, tostring, format = setmetatable, rawget, ipairs, pcall, error, tostring,
  string.format
local parse_content_type, header_params = helpers.parse_content_type, helpers.header_params

local pairs = pairs

local M = {}

-- A 400 with the details after the usual text, as the core words its own.
local function bad_request(what)
  return exceptions.HTTPBadRequest { text = core.error_text(400) .. "\n\n" .. what }
end

-- The one method table of requests, which the binding made with its C
-- methods; the Lua methods and __props join them here.
local Request = core.Request
M.Request = Request
local props = Request.__props

function props.headers(req)
  return CIMultiDict.from_flat(req:_headers())
end

function props.match_info(req)
  return req:_match()
end

function props.query(req)
  local flat, err = req:_query()
  if not flat then
    error(bad_request("request.query: " .. err))
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

-- request.config_dict: the state of the route's application, then of each
-- application above it (aiohttp's ChainMapProxy), read-only.
local ConfigDict = {}
ConfigDict.__name = "ChainMapProxy"
ConfigDict.__index = function(self, key)
  local app = self._request._luatest_owner or self._request.app
  while app do
    local state = rawget(app, "_state")
    local v = state and state[key]
    if v ~= nil then
      return v
    end
    app = rawget(app, "_parent")
  end
  return nil
end
ConfigDict.__newindex = function()
  error("request.config_dict: it is read-only (set app[key] instead)", 2)
end

function props.config_dict(req)
  return setmetatable({ _request = req }, ConfigDict)
end

-- aiohttp's read(): a body of client_max_size bytes or more is refused
-- with 413, when the handler reads it (the server kept only that much).
local function check_size(request)
  local max_size, actual_size = request:_too_large()
  if max_size then
    error(exceptions.HTTPRequestEntityTooLarge(max_size, actual_size))
  end
end

--- The whole body as a string; raises web.HTTPRequestEntityTooLarge (413)
--- when it reached the app's client_max_size.
function Request.read(self)
  check_size(self)
  return self:_body()
end

local CLONE_OPTIONS = helpers.names { "method", "rel_url", "headers", "scheme", "host", "remote",
  "client_max_size" }

--- request:clone{method=, rel_url=, headers=, scheme=, host=, remote=,
--- client_max_size=}: a new Request with those changed and the rest (body,
--- app, match_info, user data) the same, as aiohttp's clone. A middleware
--- hands it to the handler; the answer still goes out on the original.
function Request.clone(self, opts)
  helpers.check_options("request:clone", opts, CLONE_OPTIONS, 2)
  opts = opts or {}
  local flat
  if opts.headers ~= nil then
    flat = multidict.flat_pairs(opts.headers)
  else
    flat = self:_headers()
  end
  if opts.host ~= nil then
    local without = {}
    for i = 1, #flat, 2 do
      if flat[i]:lower() ~= "host" then
        without[#without + 1] = flat[i]
        without[#without + 1] = flat[i + 1]
      end
    end
    without[#without + 1] = "Host"
    without[#without + 1] = tostring(opts.host)
    flat = without
  end
  local url = opts.rel_url ~= nil and tostring(opts.rel_url) or self.raw_path
  if url:sub(1, 1) ~= "/" then
    error("request:clone: rel_url must be a path starting with '/', got '" .. url .. "'", 2)
  end
  local max = opts.client_max_size
  if max == nil then
    max = self:_max_body()
  end
  local ok, clone = pcall(core.mock_request, opts.method or self.method, url, flat, self:_body(), self.version,
    not self.keep_alive, self.app, max, opts.remote or self.remote, opts.scheme or self.scheme)
  if not ok then
    error((tostring(clone):gsub("^make_mocked_request", "request:clone")), 2)
  end
  clone:_set_match(self.match_info)
  local data = self:_user_data()
  if data then
    for k, v in pairs(data) do
      if props[k] == nil then -- (user data, not a field computed from the old request)
        clone[k] = v
      end
    end
  end
  return clone
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

-- ---- bodies: forms, multipart --------------------------------------------------------


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
  check_size(request)
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

function props.content(req)
  return streams.stream_reader(req:read())
end


return M
