--- luatest.client_exceptions: the client's errors in aiohttp's hierarchy.
--- Each is a table whose class says what happened (`errors.is(e, cls)`,
--- `luatest.raises(fn, cls)` match a class and its subclasses), with the
--- fields aiohttp gives it, and a `__tostring` that reads as the message
--- (`client:get: connection refused (127.0.0.1:43121)`).
local setmetatable, getmetatable, rawget, type, tostring, format = setmetatable, getmetatable, rawget, type,
  tostring, string.format

local M = {}

local function message_of(self)
  local text = rawget(self, "text")
  if text then
    return text
  end
  local cls = getmetatable(self)
  return cls.__name .. (self.message and (": " .. tostring(self.message)) or "")
end

local Base = { __name = "ClientError" }
Base.__tostring = message_of
-- Code written when these errors were strings goes on working: string
-- methods apply to the message (err:find(...)), and so does `..`.
Base.__concat = function(a, b)
  return tostring(a) .. tostring(b)
end

--- define(name, parent) -> a class; cls(fields) or cls.new(fields) makes
--- an instance (fields.text is what tostring gives).
local function define(name, parent, tostring_fn)
  local cls = {}
  for k, v in pairs(parent or Base) do -- (no __index chain: metamethods are not inherited)
    cls[k] = v
  end
  cls.__name = name
  cls.__index = function(self, key)
    local v = cls[key]
    if v ~= nil then
      return v
    end
    local f = string[key]
    if f then
      return function(e, ...)
        return f(tostring(e), ...)
      end
    end
  end
  cls.__tostring = tostring_fn or (parent and parent.__tostring) or message_of
  cls._parent = parent or false
  cls._is_class = true
  cls.new = function(fields)
    return setmetatable(fields or {}, cls)
  end
  setmetatable(cls, {
    __call = function(_, fields)
      return setmetatable(fields or {}, cls)
    end,
    __tostring = function()
      return "<class " .. name .. ">"
    end,
  })
  M[name] = cls
  return cls
end

--- is(e, cls): whether e is an instance of cls or of a subclass.
function M.is(e, cls)
  if type(e) ~= "table" then
    return false
  end
  local mt = getmetatable(e)
  while mt do
    if mt == cls then
      return true
    end
    mt = rawget(mt, "_parent")
  end
  return false
end

--- is_class(v): whether v is one of these classes.
function M.is_class(v)
  return type(v) == "table" and rawget(v, "_is_class") == true
end

local ClientError = define("ClientError", nil)

-- aiohttp: "404, message='Not Found', url='http://...'"
local function response_text(self)
  local text = rawget(self, "text")
  if text then
    return text
  end
  local url = self.request_info and self.request_info.real_url or self.url or ""
  return format("%s, message='%s', url='%s'", tostring(self.status), tostring(self.message or ""), tostring(url))
end

local ClientResponseError = define("ClientResponseError", ClientError, response_text)
define("ContentTypeError", ClientResponseError)
define("WSServerHandshakeError", ClientResponseError)
define("TooManyRedirects", ClientResponseError)
local ClientConnectionError = define("ClientConnectionError", ClientError)
local ClientOSError = define("ClientOSError", ClientConnectionError)
local ClientConnectorError = define("ClientConnectorError", ClientOSError)
local ClientSSLError = define("ClientSSLError", ClientConnectorError)
define("ClientConnectorSSLError", ClientSSLError)
define("ClientConnectorCertificateError", ClientSSLError)
local ServerConnectionError = define("ServerConnectionError", ClientConnectionError)
define("ServerDisconnectedError", ServerConnectionError)
define("ServerTimeoutError", ServerConnectionError)
define("ClientPayloadError", ClientError)
define("InvalidURL", ClientError)

return M
