--- luatest.streams: aiohttp's StreamReader (streams.py), the body reader of
--- request.content and of a client response's content.
local compat = require "luatest.compat"

local setmetatable, error, format = setmetatable, error, string.format
local waiting_iterator = compat.waiting_iterator

local M = {}

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
function M.stream_reader(data, pull)
  return setmetatable({ _buf = data or "", _pos = 1, _pull = pull }, StreamReader)
end

return M
