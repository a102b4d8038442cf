-- WebSocket frames as a raw client writes them and as the server answers,
-- in arithmetic that every Lua runtime has (no bit operators).
local M = {}

local function bxor(a, b)
  local r, bit = 0, 1
  while a > 0 or b > 0 do
    local x, y = a % 2, b % 2
    if x ~= y then
      r = r + bit
    end
    a, b, bit = (a - x) / 2, (b - y) / 2, bit * 2
  end
  return r
end
M.bxor = bxor

local KEY = { 0x12, 0x34, 0x56, 0x78 }
local masked_byte = {} -- [key byte][byte] -> the masked byte, as needed

local function mask_with(k, b)
  local row = masked_byte[k]
  if not row then
    row = {}
    for v = 0, 255 do
      row[v] = string.char(bxor(k, v))
    end
    masked_byte[k] = row
  end
  return row[b]
end

--- A client frame: `first` is the FIN/RSV/opcode byte; masked (with
--- KEY) unless `masked` is false. Payloads up to 65535 bytes.
function M.frame(first, payload, masked)
  local n = #payload
  local bit = masked == false and 0 or 0x80
  local head = string.char(first)
  if n < 126 then
    head = head .. string.char(bit + n)
  else
    head = head .. string.char(bit + 126, math.floor(n / 256), n % 256)
  end
  if bit == 0 then
    return head .. payload
  end
  local out = {}
  for i = 1, n do
    out[i] = mask_with(KEY[(i - 1) % 4 + 1], payload:byte(i))
  end
  return head .. string.char(KEY[1], KEY[2], KEY[3], KEY[4]) .. table.concat(out)
end

function M.close_frame(code, reason)
  return M.frame(0x88, string.char(math.floor(code / 256), code % 256) .. (reason or ""))
end

--- The server's frames after its 101: a list of {op, payload, code, reason}.
function M.server_frames(bytes)
  local head_end = assert(bytes:find("\r\n\r\n", 1, true), "no 101 answer: " .. bytes)
  assert(bytes:find("^HTTP/1.1 101"), bytes)
  local frames, at = {}, head_end + 4
  while at + 1 <= #bytes do
    local b0, b1 = bytes:byte(at, at + 1)
    local n, p = b1 % 128, at + 2
    if n == 126 then
      n, p = bytes:byte(p) * 256 + bytes:byte(p + 1), p + 2
    end
    local payload = bytes:sub(p, p + n - 1)
    local f = { op = b0 % 16, payload = payload }
    if f.op == 8 and n >= 2 then
      f.code = payload:byte(1) * 256 + payload:byte(2)
      f.reason = payload:sub(3)
    end
    frames[#frames + 1] = f
    at = p + n
  end
  return frames
end

return M
