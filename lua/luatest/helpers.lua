--- luatest.helpers: small pieces the server and the client share (aiohttp's
--- helpers.py): option checks, header values, HTTP dates.
local type, tostring, format, error, next = type, tostring, string.format, error, next

local M = {}

--- check_options(call, opts, allowed, level): an unknown key of an options
--- table is an error naming the call and the key, as aiohttp's TypeError
--- for an unexpected keyword argument (allowed: a set of names).
function M.check_options(call, opts, allowed, level)
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

--- names{...}: a set of the names, for check_options.
function M.names(list)
  local set = {}
  for _, k in ipairs(list) do
    set[k] = true
  end
  return set
end

--- The media type (lower case) and charset of a Content-Type value.
function M.parse_content_type(value)
  if not value then
    return "application/octet-stream", nil
  end
  local mime = value:match("^%s*([^;%s]+)") or "application/octet-stream"
  local charset = value:match(";%s*[cC][hH][aA][rR][sS][eE][tT]%s*=%s*\"?([^;\"%s]+)")
  return mime:lower(), charset
end

-- Parameters of a header value such as `form-data; name="f"; filename="a b.txt"`.
function M.header_params(value)
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

local months = { Jan = 1, Feb = 2, Mar = 3, Apr = 4, May = 5, Jun = 6, Jul = 7, Aug = 8, Sep = 9,
  Oct = 10, Nov = 11, Dec = 12 }

-- Seconds since the epoch of an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT").
function M.parse_http_date(value)
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

--- An IMF-fixdate of a time (seconds since the epoch).
function M.http_date(t)
  return os.date("!%a, %d %b %Y %H:%M:%S GMT", t)
end

return M
