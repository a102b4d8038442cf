--- WebSocket message API shared by the server side (web.WebSocketResponse)
--- and the client side (client:ws_connect): receive, messages, send_str,
--- send_bytes, send_json, ping, close, and the fields closed, close_code,
--- protocol, compress. Messages are {type = "text"|"binary"|"close"|"closed"|...,
--- data =, extra =} as aiohttp's WSMessage.
local json = require "luatest.json"
local waiting_iterator = require("luatest.compat").waiting_iterator

local M = {}

local type_names = { [1] = "text", [2] = "binary", [8] = "close", [9] = "ping", [10] = "pong", [0] = "closed",
  [256] = "error", [257] = "closing" }

local WebSocket = {}
M.WebSocket = WebSocket

local fields = {
  closed = function(self)
    local core = rawget(self, "_ws")
    if not core then
      return true
    end
    local state = core:_state()
    return state == "closed" or state == "closing" or rawget(self, "_closing") == true
  end,
  close_code = function(self)
    local core = rawget(self, "_ws")
    if not core then
      return rawget(self, "_close_code")
    end
    local _, code = core:_state()
    return code ~= 0 and code or nil
  end,
  -- The permessage-deflate window bits in use, or false; before the
  -- server side's prepare, whether it will accept the extension.
  compress = function(self)
    local core = rawget(self, "_ws")
    if core then
      return core:_compress()
    end
    local opts = rawget(self, "_opts")
    return opts ~= nil and opts.compress ~= false
  end,
  protocol = function(self)
    local core = rawget(self, "_ws")
    local p = core and select(3, core:_state()) or rawget(self, "_protocol")
    return p ~= "" and p or nil
  end,
}

WebSocket.__index = function(self, key)
  local f = fields[key]
  if f then
    return f(self)
  end
  return WebSocket[key]
end

local function core_ws(self, call)
  local ws = rawget(self, "_ws")
  if not ws then
    error(call .. ": the WebSocket is not open (call prepare first, or it was released)", 3)
  end
  return ws
end

--- The next message; `timeout` seconds (default: the receive_timeout
--- option, else none) raise an error when nothing arrives.
function WebSocket:receive(timeout)
  local ws = core_ws(self, "ws:receive")
  timeout = timeout or rawget(self, "_receive_timeout")
  if rawget(self, "_closing") then
    -- Closing (from this task or another): as aiohttp, the receiver waits
    -- for the end of the connection.
    ws:_wait_closed(timeout)
    return { type = "closed", data = self.close_code }
  end
  local kind, data, code = ws:_receive(timeout)
  if kind == nil then
    error(string.format("ws:receive: timed out after %gs", timeout), 2)
  end
  local name = type_names[kind] or "error"
  if name == "closing" then
    return { type = "closing" }
  elseif name == "close" then
    return { type = "close", data = code, extra = data }
  elseif name == "closed" then
    return { type = "closed", data = code ~= 0 and code or nil }
  elseif name == "error" then
    -- The peer broke the protocol: data says how, extra is the close code sent.
    return { type = "error", data = data, extra = code }
  end
  return { type = name, data = data }
end

--- receive_str(timeout): the next message, which must be text (aiohttp
--- raises TypeError otherwise); receive_bytes: binary; receive_json: text
--- parsed by luatest.json.
function WebSocket:receive_str(timeout)
  local msg = self:receive(timeout)
  if msg.type ~= "text" then
    error(string.format("ws:receive_str: received a %s message, not text", msg.type), 2)
  end
  return msg.data
end

function WebSocket:receive_bytes(timeout)
  local msg = self:receive(timeout)
  if msg.type ~= "binary" then
    error(string.format("ws:receive_bytes: received a %s message, not binary", msg.type), 2)
  end
  return msg.data
end

function WebSocket:receive_json(timeout)
  local msg = self:receive(timeout)
  if msg.type ~= "text" and msg.type ~= "binary" then
    error(string.format("ws:receive_json: received a %s message, not text", msg.type), 2)
  end
  local ok, value = pcall(json.decode, msg.data)
  if not ok then
    error("ws:receive_json: " .. tostring(value), 2)
  end
  return value
end

--- Iterates text and binary messages until the connection closes.
function WebSocket:messages()
  return waiting_iterator("ws:messages", "ws:receive()", function()
    local msg = self:receive()
    if msg.type == "close" or msg.type == "closed" or msg.type == "closing" or msg.type == "error" then
      return nil
    end
    return msg
  end)
end

local function send(self, call, kind, data, opts)
  local ws = core_ws(self, call)
  if opts ~= nil and type(opts) ~= "table" then
    error(call .. ": expected an options table, got " .. type(opts), 3)
  end
  local compress = not (opts and opts.compress == false)
  local ok, err = ws:_send(kind, data, compress)
  if not ok then
    error(call .. ": " .. err, 3)
  end
end

--- send_str(s, {compress = false}): compress false sends this message
--- uncompressed although permessage-deflate is in use; so for send_bytes
--- and send_json.
function WebSocket:send_str(s, opts)
  if type(s) ~= "string" then
    error("ws:send_str: expected a string, got " .. type(s), 2)
  end
  send(self, "ws:send_str", 1, s, opts)
end

function WebSocket:send_bytes(b, opts)
  if type(b) ~= "string" then
    error("ws:send_bytes: expected a string, got " .. type(b), 2)
  end
  send(self, "ws:send_bytes", 2, b, opts)
end

function WebSocket:send_json(value, opts)
  local ok, text = pcall(json.encode, value)
  if not ok then
    error("ws:send_json: " .. tostring(text), 2)
  end
  send(self, "ws:send_json", 1, text, opts)
end

function WebSocket:ping(data)
  send(self, "ws:ping", 9, data or "")
end

--- Answers a ping by hand (with autoping = false).
function WebSocket:pong(data)
  send(self, "ws:pong", 10, data or "")
end

--- Starts the closing handshake ({code = 1000, message = ""}) and waits
--- for the peer's answer; true when this call closed the connection.
function WebSocket:close(opts)
  local ws = rawget(self, "_ws")
  if not ws then
    return false
  end
  opts = opts or {}
  local started = ws:_close(opts.code or 1000, opts.message or "")
  rawset(self, "_closing", true)
  if started then
    -- A task waiting in receive gets "closing" (as in aiohttp), and this
    -- one reads the peer's answer in its place.
    ws:_interrupt()
    -- Drain until the connection is closed.
    for _ = 1, 1000 do
      local kind = ws:_receive(5)
      if kind == nil or kind == 0 then
        break
      end
    end
  end
  return started
end

--- ws:_finish(): its owner is done with it: closed if still open, and the
--- connection let go of.
function WebSocket:_finish()
  if not self.closed then
    self:close()
  end
  local core_ws = rawget(self, "_ws")
  if core_ws then
    core_ws:_release()
  end
end

function M.wrap(core_ws, opts)
  opts = opts or {}
  return setmetatable({ _ws = core_ws, _receive_timeout = opts.receive_timeout }, WebSocket)
end

return M
