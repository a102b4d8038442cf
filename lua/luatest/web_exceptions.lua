--- luatest.web_exceptions: aiohttp's HTTP exceptions (web_exceptions.py),
--- each a class with its status; `error(web.HTTPNotFound())` or return one.
local core = require "luatest.core"
local helpers = require "luatest.helpers"
local multidict = require "luatest.multidict"
local response = require "luatest.web_response"

local CIMultiDict = multidict.CIMultiDict
local type, rawget, setmetatable, getmetatable = type, rawget, setmetatable, getmetatable
local error, tostring, format = error, tostring, string.format
local check_options = helpers.check_options

local M = {}

local EXCEPTION_OPTIONS = helpers.names { "headers", "reason", "text", "body", "content_type" }

local HTTPException = {}
HTTPException.__index = HTTPException
HTTPException.__name = "HTTPException"
HTTPException.__tostring = function(self)
  return format("%d: %s", self.status, self.reason)
end
M.HTTPException = HTTPException
-- An HTTP exception is a Response, as in aiohttp 3.8: set_cookie,
-- del_cookie and enable_compression work on it.
-- Like a Response's, a missing content_type reads as aiohttp's default.
setmetatable(HTTPException, {
  __index = function(_, key)
    if key == "content_type" then
      return "application/octet-stream"
    end
    return response.Response[key]
  end,
})

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
M.is_http_exception = is_exception

local empty_body = { [204] = true, [304] = true }

-- As aiohttp's HTTPException.__init__: a Response with the given body or
-- text, and "<status>: <reason>" as text when neither is given (none for
-- 204 and 304); text is text/plain (or content_type) in utf-8, a body is
-- application/octet-stream unless content_type says otherwise.
local function init_exception(class, opts)
  check_options(class.__name or "HTTPException", opts, EXCEPTION_OPTIONS, 3)
  opts = opts or {}
  local status = class.status_code
  local reason = opts.reason or core.status_reason(status)
  local e = setmetatable({ status = status, reason = reason }, class)
  local text, body = opts.text, opts.body
  if text ~= nil and body ~= nil then
    error((class.__name or "HTTPException") .. ": text and body are mutually exclusive", 3)
  end
  if text == nil and body == nil and not empty_body[status] then
    text = core.error_text(status, reason)
  end
  if text ~= nil then
    e.text, e.body = text, text
    e.content_type = opts.content_type or "text/plain"
    e.charset = "utf-8"
  elseif body ~= nil then
    e.text, e.body = body, body
    e.content_type = opts.content_type or "application/octet-stream"
  else
    e.content_type = opts.content_type -- (no body, and no text: aiohttp's None)
  end
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
  M[name] = class
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
return M
