--- luatest.web_ws: the server side of a WebSocket, aiohttp's
--- WebSocketResponse (web_ws.py). The message API is luatest.websocket's,
--- shared with the client.
local helpers = require "luatest.helpers"
local multidict = require "luatest.multidict"
local compat = require "luatest.compat"
local exceptions = require "luatest.web_exceptions"

local CIMultiDict = multidict.CIMultiDict
local rawget, rawset, setmetatable, getmetatable = rawget, rawset, setmetatable, getmetatable
local error, tostring, format = error, tostring, string.format
local check_options = helpers.check_options

local M = {}

local WS_OPTIONS = helpers.names { "protocols", "max_msg_size", "heartbeat", "autoping", "autoclose", "headers",
  "timeout", "receive_timeout", "compress" }

local websocket = require "luatest.websocket"
local WebSocketResponse = setmetatable({}, { __index = websocket.WebSocket })

local ws_fields = { closed = true, close_code = true, protocol = true, compress = true }
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
--- answer, 10 as aiohttp; then close_code is 1006), compress (default
--- true: a client's permessage-deflate offer is accepted as aiohttp does;
--- false refuses it). ws.compress is then the window bits our messages are
--- compressed with, or false.
function M.WebSocketResponse(opts)
  check_options("web.WebSocketResponse", opts, WS_OPTIONS, 2)
  opts = opts or {}
  -- status, reason and headers as aiohttp's (a StreamResponse): headers
  -- set before prepare go out with the 101 answer, so middlewares can
  -- read and set them on every route.
  return setmetatable({ _opts = opts, _receive_timeout = opts.receive_timeout, status = 101,
    reason = "Switching Protocols", headers = CIMultiDict(opts.headers) }, WebSocketResponse)
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
    error(exceptions.HTTPUpgradeRequired { text = text, headers = { ["Sec-WebSocket-Version"] = version } })
  elseif status then
    error(exceptions.HTTPBadRequest { text = text })
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
  multidict.each_pair(rawget(self, "headers"), function(k, v)
    k, v = tostring(k), tostring(v)
    if k:find("[^%w!#$%%&'*+.^_`|~-]") or k == "" or v:find("[\r\n%z]") then
      error(format("ws:prepare: invalid header %s: %s", compat.quote(k), compat.quote(v)), 4)
    end
    lines[#lines + 1] = k .. ": " .. v .. "\r\n"
  end)
  local ws, err = request:_ws_upgrade {
    protocol = chosen,
    headers = lines[1] and table.concat(lines) or nil,
    max_msg_size = opts.max_msg_size,
    heartbeat = opts.heartbeat,
    timeout = opts.timeout,
    autoping = opts.autoping,
    autoclose = opts.autoclose,
    compress = opts.compress ~= false,
  }
  if not ws then
    error("ws:prepare: " .. err, 2)
  end
  rawset(self, "_ws", ws)
  request._luatest_ws = self
  return self
end

function M.is_websocket(x)
  return getmetatable(x) == WebSocketResponse
end
M._class = WebSocketResponse

return M
